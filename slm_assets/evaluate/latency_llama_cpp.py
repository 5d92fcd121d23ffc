"""Latency of a GGUF in llama.cpp: one request at a time (`time_llama_cpp`) and static batches decoded
together in one context (`time_llama_cpp_batched`). Field definitions: `slm_assets.evaluate.latency`."""

import time
from pathlib import Path

from slm_assets.evaluate.peak_memory import PeakMemory
from slm_assets.evaluate.timed_run import WARMUP_TOKENS, TimedRun, Workload, cpu_threads
from slm_assets.generation import chat_prompt_ids
from slm_assets.llama_batch import FILE_TYPE_NAMES, BatchContext, end_of_generation
from slm_assets.llama_models import context_size, open_llama


def _context_size(ids: list[list[int]], max_new_tokens: int) -> int:
    return context_size(max(len(i) for i in ids), max_new_tokens)


def _load(gguf_path: Path, threads: int, n_gpu_layers: int | None, **context):
    """(Llama, n_gpu_layers used, device, load seconds); all layers offloaded where the build supports it."""
    import llama_cpp

    offload = llama_cpp.llama_supports_gpu_offload()
    if n_gpu_layers is None:
        n_gpu_layers = -1 if offload else 0
    started = time.perf_counter()
    llm = open_llama(gguf_path, n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers, seed=0,
                     **context)
    device = "cuda" if offload and n_gpu_layers else "cpu"
    return llm, n_gpu_layers, device, time.perf_counter() - started


def _gguf_extra(llm, gguf_path: Path, load_s: float, n_gpu_layers: int) -> dict:
    file_type = int(llm.metadata.get("general.file_type", -1))
    return {"qtype": FILE_TYPE_NAMES.get(file_type, f"type{file_type}"), "gguf_mb": gguf_path.stat().st_size / 2**20,
            "load_s": load_s, "n_gpu_layers": n_gpu_layers}


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


def time_llama_cpp(gguf_path: Path, tokenizer, prompts: list[list[dict]], workload: Workload,
                   n_gpu_layers: int | None = None) -> TimedRun:
    """One request at a time (whatever `workload.batch_size` says) through `Llama.create_completion(stream=True)`
    on the HF-templated token ids."""
    import llama_cpp
    import numpy as np

    max_new_tokens, fixed_length, warmup = workload.max_new_tokens, workload.fixed_length, workload.warmup
    threads = workload.threads or cpu_threads()
    ids = chat_prompt_ids(tokenizer, prompts)  # the HF template's ids: both runtimes read the same prompt
    ttft, latency, tokens, decode = [], [], [], []
    with PeakMemory(cuda=False) as memory:
        llm, n_gpu_layers, device, load_s = _load(gguf_path, threads, n_gpu_layers,
                                                  n_ctx=_context_size(ids, max_new_tokens))
        try:
            extra = _gguf_extra(llm, gguf_path, load_s, n_gpu_layers)
            banned = np.array(end_of_generation(llm) if fixed_length else [], dtype=np.int64)

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
    return TimedRun(name=f"gguf_{extra['qtype']}_batch1", runtime="llama.cpp", device=device, batch_size=1,
                    threads=threads, max_new_tokens=max_new_tokens, ttft_s=ttft, latency_s=latency,
                    new_tokens=tokens, decode_s=decode, wall_s=wall, peak_memory_mb=memory.peak_mb,
                    memory_increase_mb=memory.increase_mb, memory_kind=memory.kind, extra=extra)


class BatchedGreedy:
    """Greedy decoding of a static batch of sequences in lockstep in one llama.cpp context (see
    `slm_assets.llama_batch`): the prompts are prefilled in one `llama_decode`, then each step decodes one
    token of every live sequence at once."""

    def __init__(self, llm, n_seq: int, n_ctx_per_seq: int, n_batch: int, threads: int):
        self.context = BatchContext(llm, n_seq, n_ctx_per_seq, n_batch, threads)
        self.n_seq = n_seq

    def close(self) -> None:
        self.context.close()

    def _decode_and_pick(self, outputs: list[int], banned) -> list[int]:
        """Run the batch; the greedy token at each output index (banned tokens excluded)."""
        import numpy as np

        self.context.decode()
        picks = []
        for i in outputs:
            logits = self.context.logits(i)
            if len(banned):
                logits[banned] = -np.inf  # llama.cpp rewrites this buffer at the next decode
            picks.append(int(logits.argmax()))
        return picks

    def generate(self, prompts: list[list[int]], n_tokens: int, banned, end_tokens: set[int]):
        """Decode up to `n_tokens` per prompt; returns (started, token times per prompt, tokens per prompt).
        A sequence stops at its first end-of-generation token (kept in its output), as in `generate()`."""
        if len(prompts) > self.n_seq:
            raise ValueError(f"{len(prompts)} prompts for a context of {self.n_seq} sequences")
        context = self.context
        context.clear()
        started = time.perf_counter()
        context.start_batch()
        outputs = []
        for seq, ids in enumerate(prompts):
            for pos, token in enumerate(ids):
                context.add(token, pos, seq, pos == len(ids) - 1)
            outputs.append(context.n_tokens - 1)
        picks = self._decode_and_pick(outputs, banned)
        now = time.perf_counter()
        tokens = [[t] for t in picks]
        times = [[now] for _ in prompts]
        live = [s for s, t in enumerate(picks) if t not in end_tokens]
        while live and len(tokens[live[0]]) < n_tokens:
            context.start_batch()
            outputs = [context.add(tokens[seq][-1], len(prompts[seq]) + len(tokens[seq]) - 1, seq, True)
                       for seq in live]
            picks = self._decode_and_pick(outputs, banned)
            now = time.perf_counter()
            for seq, token in zip(live, picks, strict=True):
                tokens[seq].append(token)
                times[seq].append(now)
            live = [s for s in live if tokens[s][-1] not in end_tokens]
        return started, times, tokens


def time_llama_cpp_batched(gguf_path: Path, tokenizer, prompts: list[list[dict]], workload: Workload,
                           n_gpu_layers: int | None = None) -> TimedRun:
    """Static batches of `workload.batch_size` prompts decoded together in llama.cpp (see `BatchedGreedy`)."""
    import numpy as np

    max_new_tokens, batch_size, fixed_length = workload.max_new_tokens, workload.batch_size, workload.fixed_length
    warmup, threads = workload.warmup, workload.threads or cpu_threads()
    ids = chat_prompt_ids(tokenizer, prompts)  # the HF template's ids: both runtimes read the same prompt
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    n_batch = max(sum(len(i) for i in batch) for batch in batches)
    ttft, latency, tokens, decode = [], [], [], []
    with PeakMemory(cuda=False) as memory:
        # the Llama object only loads the weights here; the decoding context is BatchedGreedy's own
        llm, n_gpu_layers, device, load_s = _load(gguf_path, threads, n_gpu_layers, n_ctx=64, n_batch=64)
        decoder = None
        try:
            context_started = time.perf_counter()
            decoder = BatchedGreedy(llm, len(batches[0]), _context_size(ids, max_new_tokens), n_batch, threads)
            load_s += time.perf_counter() - context_started
            extra = _gguf_extra(llm, gguf_path, load_s, n_gpu_layers)
            eog = end_of_generation(llm)
            banned = np.array(eog if fixed_length else [], dtype=np.int64)
            end_tokens = set() if fixed_length else set(eog)
            for _ in range(warmup):
                decoder.generate(batches[0], WARMUP_TOKENS, banned, end_tokens)
            wall_start = time.perf_counter()
            for batch in batches:
                started, times, _new = decoder.generate(batch, max_new_tokens, banned, end_tokens)
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
    return TimedRun(name=f"gguf_{extra['qtype']}_batch{batch_size}", runtime="llama.cpp", device=device,
                    batch_size=batch_size, threads=threads, max_new_tokens=max_new_tokens, ttft_s=ttft,
                    latency_s=latency, new_tokens=tokens, decode_s=decode, wall_s=wall,
                    peak_memory_mb=memory.peak_mb, memory_increase_mb=memory.increase_mb, memory_kind=memory.kind,
                    extra=extra)
