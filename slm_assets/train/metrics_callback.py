"""A transformers TrainerCallback that hands every logged number to a sink (MLflow, Dagster Pipes, a list)."""

import resource
import time
from collections.abc import Callable

from transformers import TrainerCallback


def peak_memory_mb() -> float:
    """Peak GPU memory when training on CUDA, else the process's peak resident memory."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MetricsCallback(TrainerCallback):
    """Calls `sink(step, metrics)` on every log event, adding tokens/s and peak memory."""

    def __init__(self, sink: Callable[[int, dict], None]):
        self.sink = sink
        self.history: list[dict] = []
        self._last_time = time.perf_counter()
        self._last_tokens = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        metrics = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
        now = time.perf_counter()
        tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        if "loss" in metrics and tokens > self._last_tokens:
            metrics["tokens_per_s"] = (tokens - self._last_tokens) / max(1e-9, now - self._last_time)
            self._last_time, self._last_tokens = now, tokens
        metrics["peak_memory_mb"] = peak_memory_mb()
        self.history.append({"step": state.global_step, **metrics})
        self.sink(state.global_step, metrics)
