"""An importance matrix for llama.cpp's quantizer, from the domain's own training examples.

llama.cpp's `llama-imatrix` tool runs a model over calibration text and keeps, for every weight matrix
W (out x in) of the transformer blocks, the mean over tokens of each input column's squared activation
(the `in_sum2 / counts` of its files). `llama-quantize --imatrix` hands those means to the quantizer,
which then weighs each column's rounding error by them: the columns that carry large activations are
rounded more carefully. K-quants and their fallback types (q5_0, q8_0) use it.

llama-cpp-python exposes the quantizer's `imatrix` parameter (`llama_model_imatrix_data`) but not the
tool that computes it, so the same statistic is collected here with forward hooks on the merged HF
model's Linear layers, and each layer's name is mapped to its GGUF tensor name with llama.cpp's own
name map (gguf-py). The output projection is left out, as llama-imatrix leaves it out by default. The
calibration text is SFT examples under the chat template (`chat_calibration_texts`), the text a served
model reads; `ExportConfig.importance_texts` says how many, and why the default is none.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from slm_assets.losses import body_and_head
from slm_assets.models import load_causal_lm, load_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportanceMatrix:
    """GGUF tensor name -> mean squared input per column; what the quantizer reads."""

    columns: dict[str, list[float]]
    tokens: int  # calibration tokens the means are over


def gguf_tensor_names(model, architecture: str) -> dict[str, str]:
    """HF Linear module name -> GGUF tensor name (e.g. `model.layers.0.self_attn.q_proj` ->
    `blk.0.attn_q.weight`) for the transformer blocks of `model`, by gguf-py's tensor name map."""
    import gguf
    import torch

    arch = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}.get(architecture)
    if arch is None:
        raise ValueError(f"gguf-py knows no architecture {architecture!r}")
    n_blocks = model.config.get_text_config().num_hidden_layers
    name_map = gguf.get_tensor_name_map(arch, n_blocks)
    names = {}
    for module_name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        tensor = name_map.get_name(module_name)
        if tensor is not None and tensor.startswith("blk."):
            names[module_name] = f"{tensor}.weight"
    return names


def evenly_spaced(items: list, n: int) -> list:
    """At most `n` of `items`, evenly spaced from the first (all of them when there are fewer)."""
    if n <= 0:
        return []
    step = max(1, len(items) / n)
    return [items[int(i * step)] for i in range(min(n, len(items)))]


def chat_calibration_texts(model_dir: Path, rows: list[dict], n: int) -> list[str]:
    """At most `n` SFT examples (prompt and answer, spread evenly over `rows`) rendered by the model's own chat
    template: the text the served model reads, passages and all."""
    picked = evenly_spaced(rows, n)
    if not picked:
        return []
    tokenizer = load_tokenizer(str(model_dir), Path(model_dir))  # a local model directory: no cache used
    return [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in picked]


def compute_importance(model, tokenizer, texts: list[str], architecture: str, max_tokens: int = 512,
                       batch_size: int = 4) -> ImportanceMatrix:
    """Mean squared input activation per column of every block weight, over `texts` (each cut to
    `max_tokens`), keyed by GGUF tensor name."""
    import torch

    names = gguf_tensor_names(model, architecture)
    if not names:
        raise ValueError(f"no transformer-block Linear layer of {type(model).__name__} maps to a GGUF tensor")
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    mask_holder: dict[str, torch.Tensor] = {}

    def hook(module_name: str):
        def collect(_module, inputs):
            x = inputs[0].detach().float()  # (B, T, in)
            keep = mask_holder["mask"]  # (B, T): real tokens only, not padding
            rows = x[keep]
            square = rows.pow(2).sum(dim=0)
            sums[module_name] = square if module_name not in sums else sums[module_name] + square
            counts[module_name] = counts.get(module_name, 0) + rows.shape[0]

        return collect

    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_pre_hook(hook(name)) for name in names]
    body, _head = body_and_head(model)  # the blocks only: no logits over the vocabulary
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tokens = 0
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                ids = [tokenizer(t, truncation=True, max_length=max_tokens,
                                 add_special_tokens=not (tokenizer.bos_token and t.startswith(tokenizer.bos_token)))
                       ["input_ids"] for t in texts[start : start + batch_size]]
                width = max(len(i) for i in ids)
                input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
                mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
                mask_holder["mask"] = mask.bool()
                body(input_ids=input_ids, attention_mask=mask, use_cache=False)
                tokens += int(mask.sum())
    finally:
        for handle in handles:
            handle.remove()
    columns = {names[m]: (sums[m] / counts[m]).tolist() for m in sums if counts[m]}
    log.info("importance matrix: %d tensors from %d texts, %d tokens", len(columns), len(texts), tokens)
    return ImportanceMatrix(columns=columns, tokens=tokens)


def importance_for_model(model_dir: Path, texts: list[str], architecture: str, max_tokens: int = 512) -> ImportanceMatrix:
    """Load the merged model in `model_dir` (fp32, CPU) and compute its importance matrix over `texts`."""
    import torch

    # a local model directory: the cache directory is never used
    tokenizer = load_tokenizer(str(model_dir), Path(model_dir))
    model = load_causal_lm(str(model_dir), Path(model_dir), device="cpu", dtype=torch.float32)
    return compute_importance(model, tokenizer, texts, architecture, max_tokens)


def quantizer_entries(matrix: ImportanceMatrix):
    """The null-terminated `llama_model_imatrix_data` array llama.cpp's quantizer reads, and the buffers it points
    into (keep both alive until `llama_model_quantize` returns)."""
    import ctypes

    import llama_cpp

    names = [name.encode() for name in matrix.columns]
    buffers = [(ctypes.c_float * len(values))(*values) for values in matrix.columns.values()]
    entries = (llama_cpp.llama_model_imatrix_data * (len(names) + 1))()
    for entry, name, buffer in zip(entries, names, buffers, strict=False):
        entry.name = name
        entry.data = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_float))
        entry.size = len(buffer)
    entries[len(names)].name = None  # the terminator
    return entries, (names, buffers)
