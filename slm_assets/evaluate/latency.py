"""Latency and throughput of the tuned model: transformers and a GGUF in llama.cpp, each at batch 1 and batched.

Every run decodes greedily from the same chat-templated prompts (the first N benchmark questions). With
`fixed_length` end-of-sequence tokens are suppressed, so each prompt decodes exactly `max_new_tokens`
tokens and runtimes are compared on equal work (as llama-bench does).

Per request:
- ttft_s: request start -> first new token (prefill + one step). transformers: the first `put` of a
  streamer after the prompt's; llama.cpp batch 1: the first chunk of `create_completion(stream=True)`;
  llama.cpp batched: the end of the batch's prefill `llama_decode` and the first greedy pick.
- latency_s: request start -> last token. In a static batch every request waits for the whole batch.
- decode tokens/s: (new tokens - 1) / (last token - first token), the speed one user sees after the first
  token; throughput tokens/s: all new tokens of the run / its wall time (prefill included).
Peak memory: CUDA peak allocated by torch for transformers on a GPU; otherwise the process's peak
resident set during the run (Linux: VmHWM, reset before the run), which includes everything already
loaded in the process, so `memory_increase_mb` (peak - resident before the run) is reported beside it.
"""

import logging
import time
from dataclasses import replace
from pathlib import Path

from slm_assets.evaluate.latency_llama_cpp import time_llama_cpp, time_llama_cpp_batched
from slm_assets.evaluate.peak_memory import PeakMemory
from slm_assets.evaluate.timed_run import WARMUP_TOKENS, TimedRun, Workload
from slm_assets.generation import templated_prompts
from slm_assets.models import end_of_generation_ids

log = logging.getLogger(__name__)


def _transformers_clock():
    from transformers.generation.streamers import BaseStreamer

    class TokenClock(BaseStreamer):
        """generate() puts the prompt first, then each step's new tokens: time stamps of each put."""

        def __init__(self):
            self.times: list[float] = []

        def put(self, value):
            self.times.append(time.perf_counter())

        def end(self):
            pass

    return TokenClock()


def _generated_lengths(new, eos_ids: set[int], fixed_length: bool) -> list[int]:
    """New tokens per row (B, T): up to and including the first end-of-sequence token."""
    lengths = []
    for row in new.tolist():
        n = len(row)
        if not fixed_length:
            n = next((i + 1 for i, t in enumerate(row) if t in eos_ids), n)
        lengths.append(n)
    return lengths


def time_transformers(model, tokenizer, prompts: list[list[dict]], workload: Workload) -> TimedRun:
    """Greedy generate() over `prompts` in left-padded batches of `workload.batch_size`, timed per token by a
    streamer (on torch's own thread count: `workload.threads` is llama.cpp's)."""
    import torch

    max_new_tokens, batch_size, fixed_length = workload.max_new_tokens, workload.batch_size, workload.fixed_length
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    texts = templated_prompts(tokenizer, prompts)
    eos_ids = end_of_generation_ids(model, tokenizer)

    def generate(batch: list[str], n_tokens: int):
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        clock = _transformers_clock()
        kwargs = {"max_new_tokens": n_tokens, "do_sample": False, "pad_token_id": tokenizer.pad_token_id,
                  "eos_token_id": sorted(eos_ids), "streamer": clock}
        if fixed_length:
            kwargs["min_new_tokens"] = n_tokens
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        ended = time.perf_counter()
        return started, ended, clock.times, out[:, enc["input_ids"].shape[1] :]  # (B, T_new)

    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    for _ in range(workload.warmup):
        generate(batches[0], WARMUP_TOKENS)
    ttft, latency, tokens, decode = [], [], [], []
    wall_start = time.perf_counter()
    with PeakMemory(cuda) as memory:
        for batch in batches:
            started, ended, times, new = generate(batch, max_new_tokens)
            # times[0]: the prompt's put; times[k]: the k-th new token
            for n in _generated_lengths(new, eos_ids, fixed_length):
                last = times[min(n, len(times) - 1)]
                ttft.append(times[1] - started)
                latency.append(ended - started)  # a static batch answers every request when it ends
                tokens.append(n)
                decode.append(last - times[1])
    wall = time.perf_counter() - wall_start
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return TimedRun(name=f"hf_batch{batch_size}", runtime="transformers", device=device.type, batch_size=batch_size,
                    threads=torch.get_num_threads(), max_new_tokens=max_new_tokens, ttft_s=ttft, latency_s=latency,
                    new_tokens=tokens, decode_s=decode, wall_s=wall, peak_memory_mb=memory.peak_mb,
                    memory_increase_mb=memory.increase_mb, memory_kind=memory.kind, extra={"dtype": dtype})


def measure_latency(model, tokenizer, prompts: list[list[dict]], workload: Workload, gguf_path: Path | None = None,
                    model_name: str = "") -> dict:
    """The runs for one model: transformers at batch 1 and at `workload.batch_size`, and the GGUF at both when
    given."""
    if not prompts:
        raise ValueError("measure_latency needs at least one prompt")
    one, batched = replace(workload, batch_size=1), replace(workload, batch_size=min(workload.batch_size, len(prompts)))
    runs = [time_transformers(model, tokenizer, prompts, one)]
    if batched.batch_size > 1:
        runs.append(time_transformers(model, tokenizer, prompts, batched))
    if gguf_path is not None:
        runs.append(time_llama_cpp(gguf_path, tokenizer, prompts, one))
        if batched.batch_size > 1:
            runs.append(time_llama_cpp_batched(gguf_path, tokenizer, prompts, batched))
    for run in runs:
        s = run.summary()
        log.info("latency %s: ttft p50 %.3fs, latency p50 %.3fs p95 %.3fs, decode %.1f tok/s, throughput %.1f tok/s, "
                 "peak %.0f MiB", run.name, s["ttft_p50_s"], s["latency_p50_s"], s["latency_p95_s"],
                 s["decode_tokens_per_s"], s["throughput_tokens_per_s"], s["peak_memory_mb"])
    return {"model": model_name, "prompts": len(prompts), "max_new_tokens": workload.max_new_tokens,
            "fixed_length": workload.fixed_length, "runs": {run.name: run.as_dict() for run in runs}}
