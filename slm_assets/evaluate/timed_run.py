"""Shared parts of the latency runs: one timed run's samples and summary, percentiles, prompt preparation.

The definitions of every field are in `slm_assets.evaluate.latency`.
"""

from dataclasses import asdict, dataclass, field

from slm_assets.processes import usable_cpu_cores

WARMUP_TOKENS = 4  # enough to initialise kernels and caches; the timed runs decode the full length


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so p95 >= p50 always."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Workload:
    """What a latency run decodes: `max_new_tokens` per request, `batch_size` requests at a time, end-of-sequence
    suppressed with `fixed_length` (equal work per request), after `warmup` short requests, on `threads` CPU threads
    (None: the free cores)."""

    max_new_tokens: int
    batch_size: int = 1
    fixed_length: bool = True
    warmup: int = 1
    threads: int | None = None


@dataclass
class TimedRun:
    name: str  # hf_batch1, hf_batch8, gguf_q8_0_batch1
    runtime: str  # transformers | llama.cpp
    device: str
    batch_size: int
    threads: int
    max_new_tokens: int
    ttft_s: list[float]  # per request
    latency_s: list[float]  # per request
    new_tokens: list[int]  # per request
    decode_s: list[float]  # per request: first -> last new token
    wall_s: float  # the whole timed run
    peak_memory_mb: float
    memory_increase_mb: float
    memory_kind: str  # cuda_max_allocated | process_peak_rss | process_peak_rss_lifetime
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        decode_tokens = sum(max(0, n - 1) for n in self.new_tokens)
        decode_s = sum(self.decode_s)
        return {
            "runtime": self.runtime, "device": self.device, "batch_size": self.batch_size, "threads": self.threads,
            "requests": len(self.latency_s), "max_new_tokens": self.max_new_tokens,
            "ttft_p50_s": percentile(self.ttft_s, 50), "ttft_p95_s": percentile(self.ttft_s, 95),
            "latency_p50_s": percentile(self.latency_s, 50), "latency_p95_s": percentile(self.latency_s, 95),
            "decode_tokens_per_s": decode_tokens / decode_s if decode_s > 0 else float("nan"),
            "throughput_tokens_per_s": sum(self.new_tokens) / self.wall_s if self.wall_s > 0 else float("nan"),
            "peak_memory_mb": self.peak_memory_mb, "memory_increase_mb": self.memory_increase_mb,
            "memory_kind": self.memory_kind, **self.extra,
        }

    def as_dict(self) -> dict:
        return {**self.summary(), "samples": {k: v for k, v in asdict(self).items()
                                              if k in ("ttft_s", "latency_s", "new_tokens", "decode_s")}}


def cpu_threads() -> int:
    """Threads for a timed run: one per usable core."""
    return usable_cpu_cores()

