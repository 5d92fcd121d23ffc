"""Peak memory over a block of code: torch's CUDA peak, or the process's peak resident set (Linux VmHWM)."""

import resource
from pathlib import Path


def _proc_status_kb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory over a `with` block: torch's CUDA peak, or the process's peak resident set."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.peak_mb = self.increase_mb = float("nan")
        self.kind = ""

    def __enter__(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated() / 2**20
            self.kind = "cuda_max_allocated"
            return self
        self.before = (_proc_status_kb("VmRSS") or 0.0) / 1024
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (the peak) to the current RSS
            self.kind = "process_peak_rss"
        except OSError:
            self.kind = "process_peak_rss_lifetime"  # cannot reset: the peak since the process started
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            hwm = _proc_status_kb("VmHWM") if self.kind == "process_peak_rss" else None
            # ru_maxrss is in KiB on Linux
            self.peak_mb = (hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
        self.increase_mb = max(0.0, self.peak_mb - self.before)
        return False
