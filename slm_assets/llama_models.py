"""Opening a GGUF file in llama.cpp: the one place that constructs `llama_cpp.Llama`, for export checks, the
latency benchmark, `slm-assets ask` and the serving backend. llama_cpp is imported inside the functions."""

from pathlib import Path


class GgufLoadError(ValueError):
    """A GGUF file llama.cpp cannot load; the message names its architecture."""


def gguf_architecture(gguf_path: Path) -> str:
    """`general.architecture` of a GGUF file."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf_path)).get_field("general.architecture")
    return field.contents() if field is not None else "unknown"


def open_llama(gguf_path: Path, **kwargs):
    """llama_cpp.Llama on the file (quiet; `kwargs` are Llama's: n_ctx, n_threads, n_gpu_layers ...); a file
    llama.cpp cannot load is refused naming its architecture."""
    import llama_cpp

    try:
        return llama_cpp.Llama(model_path=str(gguf_path), verbose=False, **kwargs)
    except ValueError as exc:
        raise GgufLoadError(f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) cannot load {Path(gguf_path).name}, "
                            f"architecture {gguf_architecture(gguf_path)!r}: {exc}") from exc


def context_size(longest_prompt: int, max_new_tokens: int) -> int:
    """A context that holds the longest prompt, its answer and a few spare tokens, rounded up to 64."""
    return (longest_prompt + max_new_tokens + 8 + 63) // 64 * 64
