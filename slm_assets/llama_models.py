"""Opening a GGUF file in llama.cpp: the one place that constructs `llama_cpp.Llama`, for export checks, the
latency benchmark, `slm-assets ask` and the serving backend. llama_cpp is imported inside the functions."""

import threading
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path

_MODEL_PARAMS_LOCK = threading.Lock()


class GgufLoadError(ValueError):
    """A GGUF file llama.cpp cannot load; the message names its architecture."""


def gguf_architecture(gguf_path: Path) -> str:
    """`general.architecture` of a GGUF file."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf_path)).get_field("general.architecture")
    return field.contents() if field is not None else "unknown"


@cache
def amx_build() -> bool:
    """Whether this llama.cpp build multiplies through its AMX backend (an Intel CPU with AMX-INT8, built natively)."""
    import llama_cpp

    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


def open_llama(gguf_path: Path, **kwargs):
    """llama_cpp.Llama on the file (quiet; `kwargs` are Llama's: n_ctx, n_threads, n_gpu_layers ...); a file
    llama.cpp cannot load is refused naming its architecture.

    On a build with the AMX backend the weights stay in llama.cpp's plain CPU buffers (`use_extra_bufts` off):
    llama-cpp-python 0.3.36 built on a Sapphire Rapids Xeon segfaults in its first decode of a q8_0, q4_0 or q4_k_m
    file through AMX (measured here; ggml-org/llama.cpp#20824 reports the same crash in
    `ggml_backend_amx_mul_mat`), while f16 and q5_0, which AMX does not take, decode. `Llama` sets no such field,
    so its default parameters are swapped while it loads."""
    import llama_cpp

    try:
        with plain_cpu_buffers() if amx_build() else nullcontext():
            return llama_cpp.Llama(model_path=str(gguf_path), verbose=False, **kwargs)
    except ValueError as exc:
        raise GgufLoadError(f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) cannot load {Path(gguf_path).name}, "
                            f"architecture {gguf_architecture(gguf_path)!r}: {exc}") from exc


@contextmanager
def plain_cpu_buffers():
    """Inside the block (one thread at a time), `llama_model_default_params()` has `use_extra_bufts` off."""
    import llama_cpp.llama_cpp as lib

    with _MODEL_PARAMS_LOCK:
        default = lib.llama_model_default_params

        def without_extra_buffer_types():
            params = default()
            params.use_extra_bufts = False
            return params

        lib.llama_model_default_params = without_extra_buffer_types
        try:
            yield
        finally:
            lib.llama_model_default_params = default


def context_size(longest_prompt: int, max_new_tokens: int) -> int:
    """A context that holds the longest prompt, its answer and a few spare tokens, rounded up to 64."""
    return (longest_prompt + max_new_tokens + 8 + 63) // 64 * 64
