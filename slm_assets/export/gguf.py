"""Write a llama-architecture GGUF (for llama.cpp / Ollama) from a saved Hugging Face model directory.

The directory holds config.json, safetensors weights and a byte-level BPE tokenizer, as written by
`save_pretrained` (a LoRA must be merged first). Conventions llama.cpp expects for HF Llama weights:

- GGUF dimensions are listed fastest-first, the reverse of the NumPy shape: an HF `(out, in)`
  matrix is written as is and reads as `[in, out]`.
- HF rotates query/key pairs (i, i + d/2) of each head ("rotate_half"); llama.cpp's llama rope
  rotates adjacent pairs (2i, 2i + 1). The q and k projection rows are therefore reordered per
  head so that row 2i is HF row i and row 2i + 1 is HF row i + d/2 (`_interleave_rope_rows`).
- Norm weights and biases stay F32 (tiny, and precision matters there); only 2-D matrices are
  converted to F16 or quantised.
- With tied embeddings no `output.weight` is written: llama.cpp then reuses `token_embd.weight`.
"""

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slm_assets.export.gguf_hparams import add_hparams
from slm_assets.export.gguf_tokenizer import add_vocab, read_hf_vocab

log = logging.getLogger(__name__)

QType = Literal["f32", "f16", "q8_0", "q5_0", "q4_0"]
# the block quantisations the gguf package implements in NumPy (K-quants need llama.cpp's own tools)
_BLOCK_TYPES = {"q8_0": "Q8_0", "q5_0": "Q5_0", "q4_0": "Q4_0"}

# HF model_type values whose weights and forward pass are llama.cpp's `llama` architecture.
SUPPORTED_MODEL_TYPES = ("llama", "mistral")

_LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "mlp.gate_proj.bias": "ffn_gate.bias",
    "mlp.up_proj.bias": "ffn_up.bias",
    "mlp.down_proj.bias": "ffn_down.bias",
}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    qtype: str
    n_bytes: int
    n_tensors: int
    sha256: str


def _interleave_rope_rows(weight, n_heads: int):
    """Reorder q/k projection rows per head from HF's half-split rope layout to llama.cpp's pairs.

    weight: (n_heads * d, in) or a bias (n_heads * d,). Per head, rows [0, d/2) and [d/2, d) become
    rows 0, 2, 4 … and 1, 3, 5 … respectively.
    """
    rest = weight.shape[1:]
    d = weight.shape[0] // n_heads
    halves = weight.reshape(n_heads, 2, d // 2, *rest)  # (H, half, d/2, in)
    return halves.swapaxes(1, 2).reshape(weight.shape)  # (H, d/2, half, in) -> pairs adjacent


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        names = ["model.safetensors"]
    files = [model_dir / name for name in names]
    if not all(path.exists() for path in files):
        raise ValueError(f"{model_dir} lacks safetensors weights (merge any LoRA and save_pretrained first)")
    return files


def _hf_tensors(model_dir: Path, only: set[str] | None = None) -> Iterator[tuple[str, object]]:
    """(name, float32 ndarray) for the tensors in the safetensors files, one at a time."""
    import torch
    from safetensors import safe_open

    for path in _weight_files(model_dir):
        # framework="pt": NumPy cannot read bf16 tensors, torch can and converts.
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                if only is None or name in only:
                    yield name, handle.get_tensor(name).to(torch.float32).numpy()


def _check_tied_head(model_dir: Path) -> None:
    """A tied model's lm_head is not written (llama.cpp reuses token_embd): make sure it is a copy."""
    import numpy as np

    found = dict(_hf_tensors(model_dir, only={"lm_head.weight", "model.embed_tokens.weight"}))
    if "lm_head.weight" in found and not np.array_equal(
        found["lm_head.weight"], found["model.embed_tokens.weight"]
    ):
        raise ValueError("config says tie_word_embeddings but lm_head.weight differs from the embeddings")


def _gguf_name(hf_name: str, tied: bool) -> str | None:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return None if tied else "output.weight"
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None  # a buffer some old checkpoints saved; llama.cpp computes it
    match = _LAYER_RE.match(hf_name)
    if match and match.group(2) in _LAYER_TENSORS:
        return f"blk.{match.group(1)}.{_LAYER_TENSORS[match.group(2)]}"
    raise ValueError(f"tensor {hf_name!r} has no llama.cpp counterpart; refusing to drop it silently")


def _encode(data, qtype: QType):
    """(array, raw ggml type or None) for one tensor: 1-D stays F32, 2-D follows qtype."""
    import gguf
    import numpy as np

    if data.ndim == 1 or qtype == "f32":
        return data.astype(np.float32), None
    if qtype in _BLOCK_TYPES:
        ggml_type = getattr(gguf.GGMLQuantizationType, _BLOCK_TYPES[qtype])
        block = gguf.GGML_QUANT_SIZES[ggml_type][0]
        if data.shape[-1] % block == 0:
            return gguf.quants.quantize(data, ggml_type), ggml_type
        log.info("row length %d is not a multiple of %d: keeping F16", data.shape[-1], block)
    return data.astype(np.float16), None


def _add_metadata(writer, metadata: Mapping[str, str | int | float | bool]) -> None:
    for key, value in metadata.items():
        if key.startswith(("llama.", "tokenizer.", "general.architecture")):
            raise ValueError(f"metadata key {key!r} would override the model definition")
        if isinstance(value, bool):  # before int: bool is an int subclass
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_int64(key, value)
        elif isinstance(value, float):
            writer.add_float64(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        else:
            raise ValueError(f"metadata {key!r}: {type(value).__name__} is not str/int/float/bool")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_gguf(
    model_dir: Path,
    out_path: Path,
    qtype: QType = "q8_0",
    *,
    name: str | None = None,
    metadata: Mapping[str, str | int | float | bool] | None = None,
    tokenizer_pre: str | None = None,
) -> GgufInfo:
    """Write `out_path` (replaced atomically) from an HF Llama-family model directory.

    `metadata` adds caller keys (e.g. `slm_assets.domain`); `tokenizer_pre` overrides the
    llama.cpp pre-tokenizer name when it cannot be derived from tokenizer.json.
    """
    import gguf

    model_dir, out_path = Path(model_dir), Path(out_path)
    if qtype not in ("f32", "f16", *_BLOCK_TYPES):
        raise ValueError(f"qtype {qtype!r} is not one of f32, f16, q8_0")
    if not (model_dir / "config.json").exists():
        raise ValueError(f"{model_dir} has no config.json (an adapter directory? merge the LoRA first)")
    config = json.loads((model_dir / "config.json").read_text())
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"model_type {model_type!r} is not supported for GGUF export (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {config['hidden_act']!r}: llama.cpp's llama architecture uses silu")
    n_heads = config["num_attention_heads"]
    n_kv_heads = config.get("num_key_value_heads") or n_heads
    head_dim = config.get("head_dim") or config["hidden_size"] // n_heads
    tied = bool(config.get("tie_word_embeddings", False))
    if tied:
        _check_tied_head(model_dir)
    vocab = read_hf_vocab(model_dir, config["vocab_size"], tokenizer_pre)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    # use_temp_file spools tensor data to disk, so memory stays ~one tensor even for 1B+ models.
    writer = gguf.GGUFWriter(str(staging), "llama", use_temp_file=True)
    try:
        writer.add_name(name or model_dir.name)
        writer.add_file_type(
            {
                "f32": gguf.LlamaFileType.ALL_F32,
                "f16": gguf.LlamaFileType.MOSTLY_F16,
                "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                "q5_0": gguf.LlamaFileType.MOSTLY_Q5_0,
                "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
            }[qtype]
        )
        if qtype in _BLOCK_TYPES:
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        tensors = add_hparams(writer, config, head_dim)
        fallback_ids = {
            kind: config[f"{kind}_token_id"]
            for kind in ("bos", "eos", "pad", "unk")
            if isinstance(config.get(f"{kind}_token_id"), int)
        }
        add_vocab(writer, vocab, fallback_ids)
        _add_metadata(writer, metadata or {})

        written = []
        for extra_name, data in tensors:
            writer.add_tensor(extra_name, data)
            written.append(extra_name)
        for hf_name, data in _hf_tensors(model_dir):
            target = _gguf_name(hf_name, tied)
            if target is None:
                continue
            if ".attn_q." in target:
                data = _interleave_rope_rows(data, n_heads)
            elif ".attn_k." in target:
                data = _interleave_rope_rows(data, n_kv_heads)
            encoded, raw_dtype = _encode(data, qtype)
            writer.add_tensor(target, encoded, raw_dtype=raw_dtype)
            written.append(target)
        if not tied and "output.weight" not in written:
            # llama.cpp would silently fall back to token_embd as the output layer.
            raise ValueError(f"{model_dir}: untied embeddings but no lm_head.weight in the weights")

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        staging.unlink(missing_ok=True)
        raise
    writer.close()
    staging.replace(out_path)
    info = GgufInfo(
        path=out_path,
        qtype=qtype,
        n_bytes=out_path.stat().st_size,
        n_tensors=len(written),
        sha256=_sha256(out_path),
    )
    log.info("wrote %s (%s, %.1f MB, %d tensors)", out_path, qtype, info.n_bytes / 1e6, len(written))
    return info
