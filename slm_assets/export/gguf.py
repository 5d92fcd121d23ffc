"""GGUF files through llama.cpp's own tools.

A saved Hugging Face model directory (config.json, safetensors, tokenizer; a LoRA merged first) goes
through `convert_hf_to_gguf` (llama.cpp's converter, run in a child process by
`slm_assets.export.converter`) into one 16-bit file; llama.cpp's quantizer
(`llama_model_quantize`, from llama-cpp-python) derives every other quantisation from that file.
Every architecture the converter knows is supported; one it does not is refused, named.

K-quants work on 256-wide super-blocks: a tensor whose rows are not a multiple of 256 wide (all of
SmolLM2-135M's 576-wide matrices, every tiny test model) falls back to another type, chosen by
llama.cpp as its own `llama-quantize` does.
"""

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slm_assets.export.converter import FAILURE_PREFIX
from slm_assets.export.imatrix import ImportanceMatrix, importance_for_model, quantizer_entries
from slm_assets.llama_batch import FILE_TYPES
from slm_assets.llama_models import gguf_architecture
from slm_assets.processes import die_with_parent_preexec, usable_cpu_cores

log = logging.getLogger(__name__)

CONVERTER_TYPES = ("f32", "f16", "bf16")  # what convert_hf_to_gguf writes unquantised
# ggml tensor types a tensor-type override may name (llama-quantize --tensor-type NAME=TYPE), by ggml_type id
TENSOR_TYPES: dict[str, int] = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8,
                                "q4_k": 12, "q5_k": 13, "q6_k": 14, "bf16": 30}

# Byte-level BPE pre-tokenizer regexes (tokenizer.json `Split` patterns) and llama.cpp's name for each.
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {LLAMA3_REGEX: "llama-bpe", QWEN2_REGEX: "qwen2"}


def uses_importance(qtype: str) -> bool:
    """Whether llama.cpp's quantizer weighs `qtype`'s rounding by an importance matrix (q8_0 rounds each value to
    the nearest step whatever the weights; 16-bit files are not quantised)."""
    return qtype not in (*CONVERTER_TYPES, "q8_0")


class GgufExportError(ValueError):
    """A model the converter, the quantizer or llama.cpp cannot handle; the message names it and why."""


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    qtype: str
    n_bytes: int
    sha256: str
    seconds: float  # conversion (16-bit files) or quantisation time
    importance_tokens: int = 0  # calibration tokens of the importance matrix the quantizer used (0: none)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _info(path: Path, qtype: str, seconds: float, importance_tokens: int = 0) -> GgufInfo:
    return GgufInfo(path=path, qtype=qtype, n_bytes=path.stat().st_size, sha256=sha256_file(path), seconds=seconds,
                    importance_tokens=importance_tokens)


def _staging(out_path: Path) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")


def tokenizer_pre(model_dir: Path) -> str | None:
    """llama.cpp's pre-tokenizer name for a byte-level BPE tokenizer.json, from its split regex."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        return None
    pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    for step in steps:
        if step.get("type") == "Split":
            return PRE_TOKENIZERS.get((step.get("pattern") or {}).get("Regex"))
    if any(s.get("type") == "ByteLevel" and s.get("use_regex", True) for s in steps):
        return "gpt-2"
    return None


def convert_to_gguf(model_dir: Path, out_path: Path, outtype: str = "f16", *, name: str | None = None,
                    metadata: Mapping[str, str | int | float | bool] | None = None) -> GgufInfo:
    """`out_path` (replaced atomically) written by convert_hf_to_gguf from an HF model directory."""
    model_dir, out_path = Path(model_dir), Path(out_path)
    if outtype not in CONVERTER_TYPES:
        raise GgufExportError(f"outtype {outtype!r}: the converter writes {', '.join(CONVERTER_TYPES)}")
    if not (model_dir / "config.json").exists():
        raise GgufExportError(f"{model_dir} has no config.json (an adapter directory? merge the LoRA first)")
    staging = _staging(out_path)
    command = [sys.executable, "-m", "slm_assets.export.converter", "--outtype", outtype, "--outfile", str(staging),
               "--model-name", name or model_dir.name]
    pre = tokenizer_pre(model_dir)
    if pre:
        command += ["--tokenizer-pre", pre]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        if metadata:
            extra = Path(tmp) / "extra_kv.json"
            extra.write_text(json.dumps(dict(metadata)))
            command += ["--extra-kv", str(extra)]
        started = time.perf_counter()
        # dies with this process: a killed export leaves no converter writing on
        done = subprocess.run([*command, str(model_dir)], capture_output=True, text=True, env=env,
                              preexec_fn=die_with_parent_preexec())
        seconds = time.perf_counter() - started
    if done.returncode != 0 or not staging.exists():
        staging.unlink(missing_ok=True)
        lines = done.stderr.strip().splitlines()
        reason = next((line[len(FAILURE_PREFIX):] for line in reversed(lines) if line.startswith(FAILURE_PREFIX)),
                      "\n".join(lines[-15:]))
        raise GgufExportError(f"convert_hf_to_gguf failed on {model_dir}: {reason}")
    staging.replace(out_path)
    log.info("converted %s to %s (%s) in %.1f s", model_dir, out_path.name, outtype, seconds)
    return _info(out_path, outtype, seconds)


def tensor_type_overrides(tensor_types: Mapping[str, str]):
    """llama.cpp's tensor-type override array (pattern, ggml type), terminated as llama-quantize terminates it;
    ValueError for a type name it does not know."""
    import llama_cpp

    unknown = sorted(set(tensor_types.values()) - set(TENSOR_TYPES))
    if unknown:
        raise ValueError(f"tensor types {unknown} unknown; known: {', '.join(TENSOR_TYPES)}")
    entries = (llama_cpp.llama_model_tensor_override * (len(tensor_types) + 1))()
    for entry, (pattern, name) in zip(entries, tensor_types.items(), strict=False):
        entry.pattern, entry.type = pattern.encode(), TENSOR_TYPES[name]
    entries[len(tensor_types)].pattern, entries[len(tensor_types)].type = None, llama_cpp.GGML_TYPE_COUNT
    return entries


def quantize_gguf(source: Path, out_path: Path, qtype: str, threads: int | None = None,
                  importance: ImportanceMatrix | None = None,
                  tensor_types: Mapping[str, str] | None = None) -> GgufInfo:
    """`out_path` (replaced atomically) quantised from a 16/32-bit GGUF by llama.cpp's quantizer, weighing each
    column's rounding error by `importance` when given (export.imatrix). `tensor_types`: {regex on the tensor name:
    type}, the types llama.cpp's own mix would choose replaced for the matching tensors (llama-quantize's
    --tensor-type); a type a tensor's row size does not allow falls back as llama.cpp decides."""
    import llama_cpp

    if qtype not in FILE_TYPES or qtype in CONVERTER_TYPES:
        raise GgufExportError(f"quantisation {qtype!r} unknown; known: {', '.join(sorted(FILE_TYPES))}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FILE_TYPES[qtype]
    params.nthread = threads or usable_cpu_cores()
    if importance is not None:
        entries, _buffers = quantizer_entries(importance)  # alive until the quantizer returns
        params.imatrix = entries
    if tensor_types:
        overrides = tensor_type_overrides(tensor_types)  # alive until the quantizer returns
        params.tt_overrides = overrides
    staging = _staging(Path(out_path))
    started = time.perf_counter()
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(staging).encode(), params)
    seconds = time.perf_counter() - started
    if status != 0 or not staging.exists():
        staging.unlink(missing_ok=True)
        raise GgufExportError(f"llama.cpp could not quantise {source} to {qtype} (status {status}); its log is on "
                              "stderr")
    staging.replace(out_path)
    log.info("quantised %s to %s in %.1f s%s", Path(source).name, qtype, seconds,
             f" with an importance matrix ({importance.tokens} tokens)" if importance else "")
    return _info(Path(out_path), qtype, seconds, importance.tokens if importance else 0)


def export_ggufs(model_dir: Path, out_dir: Path, stem: str, quantizations: Sequence[str], *,
                 outtype: str = "f16", name: str | None = None,
                 metadata: Mapping[str, str | int | float | bool] | None = None,
                 calibration: Sequence[str] = (), tensor_types: Mapping[str, str] | None = None) -> dict[str, GgufInfo]:
    """`<out_dir>/<stem>-<qtype>.gguf` per quantisation: one conversion to `outtype`, then the quantizer, with an
    importance matrix computed on the `calibration` texts when there are any (export.imatrix) and the tensor types
    `tensor_types` names instead of llama.cpp's choice (see quantize_gguf).

    The 16-bit file is kept only when `outtype` is itself among `quantizations`.
    """
    if not quantizations:
        raise GgufExportError("no quantisations asked")
    out_dir = Path(out_dir)
    keep = outtype in quantizations
    source = out_dir / (f"{stem}-{outtype}.gguf" if keep else f".{stem}-{outtype}.source.gguf")
    infos = {}
    converted = convert_to_gguf(model_dir, source, outtype, name=name, metadata=metadata)
    try:
        importance = None
        if calibration and any(uses_importance(q) for q in quantizations):
            importance = importance_for_model(model_dir, list(calibration), gguf_architecture(source))
        for qtype in quantizations:
            infos[qtype] = converted if qtype == outtype else quantize_gguf(
                source, out_dir / f"{stem}-{qtype}.gguf", qtype, importance=importance if uses_importance(qtype) else None,
                tensor_types=tensor_types)
    finally:
        if not keep:
            source.unlink(missing_ok=True)
    return infos


def write_temporary_gguf(model, tokenizer, qtype: str, workdir: Path) -> Path:
    """The in-memory model saved as safetensors and exported as one GGUF (for timing; the export writes its own)."""
    model_dir = workdir / "hf"
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    return export_ggufs(model_dir, workdir, "latency", [qtype])[qtype].path
