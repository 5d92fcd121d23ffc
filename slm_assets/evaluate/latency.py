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
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from slm_assets.evaluate.peak_memory import PeakMemory

log = logging.getLogger(__name__)

WARMUP_TOKENS = 4  # enough to initialise kernels and caches; the timed runs decode the full length
# general.file_type (gguf.LlamaFileType) -> name; read from llama.cpp's metadata, which is instant, where
# GGUFReader parses the whole tokenizer (seconds)
FILE_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1", 32: "bf16"}


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so p95 >= p50 always."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


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


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _templated(tokenizer, prompts: list[list[dict]]) -> list[str]:
    return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]


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


def time_transformers(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
                      fixed_length: bool = True, warmup: int = 1) -> TimedRun:
    """Greedy generate() over `prompts` in left-padded batches of `batch_size`, timed per token by a streamer."""
    import torch

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    texts = _templated(tokenizer, prompts)
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else []) | {tokenizer.eos_token_id}

    def generate(batch: list[str], n_tokens: int):
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        clock = _transformers_clock()
        kwargs = {"max_new_tokens": n_tokens, "do_sample": False, "pad_token_id": tokenizer.pad_token_id,
                  "eos_token_id": tokenizer.eos_token_id, "streamer": clock}
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
    for _ in range(warmup):
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


class _SampledTokens:
    """A llama.cpp logits processor that times each sampling step (one per new token) and, for fixed-length
    runs, removes end-of-generation tokens from the choice."""

    def __init__(self, banned):
        self.banned = banned
        self.times: list[float] = []

    def __call__(self, input_ids, scores):
        self.times.append(time.perf_counter())
        if len(self.banned):
            scores[self.banned] = -float("inf")
        return scores


def time_llama_cpp(gguf_path: Path, tokenizer, prompts: list[list[dict]], max_new_tokens: int,
                   fixed_length: bool = True, warmup: int = 1, threads: int | None = None,
                   n_gpu_layers: int | None = None) -> TimedRun:
    """One request at a time through `Llama.create_completion(stream=True)` on the HF-templated token ids."""
    import llama_cpp
    import numpy as np

    threads = threads or _cpu_threads()
    offload = llama_cpp.llama_supports_gpu_offload()
    if n_gpu_layers is None:
        n_gpu_layers = -1 if offload else 0
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in _templated(tokenizer, prompts)]
    n_ctx = (max(len(i) for i in ids) + max_new_tokens + 8 + 63) // 64 * 64
    ttft, latency, tokens, decode = [], [], [], []
    with PeakMemory(cuda=False) as memory:
        loaded = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                              n_gpu_layers=n_gpu_layers, seed=0, verbose=False)
        load_s = time.perf_counter() - loaded
        file_type = int(llm.metadata.get("general.file_type", -1))
        qtype = FILE_TYPES.get(file_type, f"type{file_type}")
        try:
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            banned = np.array([t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
                              if fixed_length else [], dtype=np.int64)

            def request(prompt_ids: list[int], n_tokens: int) -> tuple[float, float, float, _SampledTokens]:
                llm.reset()  # no prefix reuse between prompts: every request pays its full prefill, as in transformers
                steps = _SampledTokens(banned)
                started, first = time.perf_counter(), None
                for _chunk in llm.create_completion(
                        prompt=prompt_ids, max_tokens=n_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0,
                        stream=True, logits_processor=llama_cpp.LogitsProcessorList([steps])):
                    if first is None:
                        first = time.perf_counter()
                ended = time.perf_counter()
                return started, first if first is not None else ended, ended, steps

            for _ in range(warmup):
                request(ids[0], WARMUP_TOKENS)
            wall_start = time.perf_counter()
            for prompt_ids in ids:
                started, first, ended, steps = request(prompt_ids, max_new_tokens)
                n = len(steps.times)
                ttft.append(first - started)
                latency.append(ended - started)
                tokens.append(n)
                decode.append(steps.times[-1] - steps.times[0] if n > 1 else 0.0)
            wall = time.perf_counter() - wall_start
        finally:
            llm.close()
    return TimedRun(name=f"gguf_{qtype}_batch1", runtime="llama.cpp", device="cuda" if offload and n_gpu_layers else "cpu",
                    batch_size=1, threads=threads, max_new_tokens=max_new_tokens, ttft_s=ttft, latency_s=latency,
                    new_tokens=tokens, decode_s=decode, wall_s=wall, peak_memory_mb=memory.peak_mb,
                    memory_increase_mb=memory.increase_mb, memory_kind=memory.kind,
                    extra={"qtype": qtype, "gguf_mb": gguf_path.stat().st_size / 2**20, "load_s": load_s,
                           "n_gpu_layers": n_gpu_layers})


class BatchedGreedy:
    """Greedy decoding of several sequences in lockstep in one llama.cpp context, as llama.cpp's `batched`
    example and its server's parallel slots do: every sequence has its own KV-cache sequence id, the prompts
    are prefilled in one `llama_decode`, then each step decodes one token of every live sequence at once.

    Built on the low-level API because `Llama.create_completion` drives a single sequence.
    """

    def __init__(self, llm, n_seq: int, n_ctx_per_seq: int, n_batch: int, threads: int):
        import llama_cpp

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * n_ctx_per_seq
        params.n_batch = n_batch  # the whole prefill of a batch goes into one llama_decode call
        params.n_ubatch = min(512, n_batch)
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not create a context for {n_seq} sequences of {n_ctx_per_seq} tokens")
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, n_seq)
        self.n_vocab = llm.n_vocab()
        self.n_seq = n_seq

    def close(self) -> None:
        if self.ctx:
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None

    def _add(self, token: int, pos: int, seq: int, logits: bool) -> None:
        b = self.batch
        j = b.n_tokens
        b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = token, pos, 1, logits
        b.seq_id[j][0] = seq
        b.n_tokens = j + 1

    def _decode_and_pick(self, outputs: list[int], banned) -> list[int]:
        """Run the batch; the greedy token at each output index (banned tokens excluded)."""
        import numpy as np

        rc = self._lib.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc} (batch of {self.batch.n_tokens} tokens)")
        picks = []
        for i in outputs:
            logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
            if len(banned):
                logits[banned] = -np.inf  # llama.cpp rewrites this buffer at the next decode
            picks.append(int(logits.argmax()))
        return picks

    def generate(self, prompts: list[list[int]], n_tokens: int, banned, end_tokens: set[int]):
        """Decode up to `n_tokens` per prompt; returns (started, token times per prompt, tokens per prompt).
        A sequence stops at its first end-of-generation token (kept in its output), as in `generate()`."""
        if len(prompts) > self.n_seq:
            raise ValueError(f"{len(prompts)} prompts for a context of {self.n_seq} sequences")
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self.ctx), True)
        started = time.perf_counter()
        self.batch.n_tokens = 0
        outputs = []
        for seq, ids in enumerate(prompts):
            for pos, token in enumerate(ids):
                self._add(token, pos, seq, pos == len(ids) - 1)
            outputs.append(self.batch.n_tokens - 1)
        picks = self._decode_and_pick(outputs, banned)
        now = time.perf_counter()
        tokens = [[t] for t in picks]
        times = [[now] for _ in prompts]
        live = [s for s, t in enumerate(picks) if t not in end_tokens]
        while live and len(tokens[live[0]]) < n_tokens:
            self.batch.n_tokens = 0
            for seq in live:
                self._add(tokens[seq][-1], len(prompts[seq]) + len(tokens[seq]) - 1, seq, True)
            picks = self._decode_and_pick(list(range(len(live))), banned)
            now = time.perf_counter()
            for seq, token in zip(live, picks, strict=True):
                tokens[seq].append(token)
                times[seq].append(now)
            live = [s for s in live if tokens[s][-1] not in end_tokens]
        return started, times, tokens


def time_llama_cpp_batched(gguf_path: Path, tokenizer, prompts: list[list[dict]], max_new_tokens: int,
                           batch_size: int, fixed_length: bool = True, warmup: int = 1, threads: int | None = None,
                           n_gpu_layers: int | None = None) -> TimedRun:
    """Static batches of `batch_size` prompts decoded together in llama.cpp (see `BatchedGreedy`)."""
    import llama_cpp
    import numpy as np

    threads = threads or _cpu_threads()
    offload = llama_cpp.llama_supports_gpu_offload()
    if n_gpu_layers is None:
        n_gpu_layers = -1 if offload else 0
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in _templated(tokenizer, prompts)]
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    n_ctx_per_seq = (max(len(i) for i in ids) + max_new_tokens + 8 + 63) // 64 * 64
    n_batch = max(sum(len(i) for i in batch) for batch in batches)
    ttft, latency, tokens, decode = [], [], [], []
    with PeakMemory(cuda=False) as memory:
        loaded = time.perf_counter()
        # the Llama object only loads the weights here; the decoding context is BatchedGreedy's own
        llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=64, n_batch=64, n_threads=threads,
                              n_gpu_layers=n_gpu_layers, seed=0, verbose=False)
        decoder = None
        try:
            decoder = BatchedGreedy(llm, len(batches[0]), n_ctx_per_seq, n_batch, threads)
            load_s = time.perf_counter() - loaded
            file_type = int(llm.metadata.get("general.file_type", -1))
            qtype = FILE_TYPES.get(file_type, f"type{file_type}")
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            eog = {t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)}
            banned = np.array(sorted(eog) if fixed_length else [], dtype=np.int64)
            end_tokens = set() if fixed_length else eog
            for _ in range(warmup):
                decoder.generate(batches[0], WARMUP_TOKENS, banned, end_tokens)
            wall_start = time.perf_counter()
            for batch in batches:
                started, times, new = decoder.generate(batch, max_new_tokens, banned, end_tokens)
                ended = time.perf_counter()
                for seq_times in times:
                    ttft.append(seq_times[0] - started)
                    latency.append(ended - started)  # a static batch answers every request when it ends
                    tokens.append(len(seq_times))
                    decode.append(seq_times[-1] - seq_times[0])
            wall = time.perf_counter() - wall_start
        finally:
            if decoder is not None:
                decoder.close()
            llm.close()
    return TimedRun(name=f"gguf_{qtype}_batch{batch_size}", runtime="llama.cpp",
                    device="cuda" if offload and n_gpu_layers else "cpu", batch_size=batch_size, threads=threads,
                    max_new_tokens=max_new_tokens, ttft_s=ttft, latency_s=latency, new_tokens=tokens,
                    decode_s=decode, wall_s=wall, peak_memory_mb=memory.peak_mb,
                    memory_increase_mb=memory.increase_mb, memory_kind=memory.kind,
                    extra={"qtype": qtype, "gguf_mb": gguf_path.stat().st_size / 2**20, "load_s": load_s,
                           "n_gpu_layers": n_gpu_layers})


def write_temporary_gguf(model, tokenizer, qtype: str, workdir: Path) -> Path:
    """The in-memory model saved as safetensors and written as a GGUF (for timing; the export writes its own)."""
    from slm_assets.export.gguf import write_gguf

    model_dir = workdir / "hf"
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    return write_gguf(model_dir, workdir / f"latency-{qtype}.gguf", qtype).path


def measure_latency(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
                    fixed_length: bool = True, warmup: int = 1, gguf_path: Path | None = None,
                    model_name: str = "", threads: int | None = None) -> dict:
    """The runs for one model: transformers at batch 1 and at `batch_size`, and the GGUF at both when given."""
    if not prompts:
        raise ValueError("measure_latency needs at least one prompt")
    runs = [time_transformers(model, tokenizer, prompts, max_new_tokens, 1, fixed_length, warmup)]
    batch = min(batch_size, len(prompts))
    if batch > 1:
        runs.append(time_transformers(model, tokenizer, prompts, max_new_tokens, batch, fixed_length, warmup))
    if gguf_path is not None:
        runs.append(time_llama_cpp(gguf_path, tokenizer, prompts, max_new_tokens, fixed_length, warmup, threads))
        if batch > 1:
            runs.append(time_llama_cpp_batched(gguf_path, tokenizer, prompts, max_new_tokens, batch, fixed_length,
                                               warmup, threads))
    for run in runs:
        s = run.summary()
        log.info("latency %s: ttft p50 %.3fs, latency p50 %.3fs p95 %.3fs, decode %.1f tok/s, throughput %.1f tok/s, "
                 "peak %.0f MiB", run.name, s["ttft_p50_s"], s["latency_p50_s"], s["latency_p95_s"],
                 s["decode_tokens_per_s"], s["throughput_tokens_per_s"], s["peak_memory_mb"])
    return {"model": model_name, "prompts": len(prompts), "max_new_tokens": max_new_tokens,
            "fixed_length": fixed_length, "runs": {run.name: run.as_dict() for run in runs}}
