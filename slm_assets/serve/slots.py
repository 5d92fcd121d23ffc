"""Continuous batching for llama.cpp: N slots (sequences) in one context, decoded together step by step.

A scheduler thread owns the context. Each step it puts the next token of every generating slot and as
many prompt tokens of newly joined slots as the batch holds (chunked prefill) into one `llama_decode`,
samples one token per slot that asked for logits, and pushes the text to that request's queue. Requests
join free slots between steps and leave when they finish (end-of-generation token, stop string,
`max_tokens`, context full) or are cancelled (client gone), which frees the slot for the next one: the
same scheme as llama.cpp's own server (`--parallel`). One slot is the one-at-a-time server.

A freed slot keeps its prompt in the KV cache. A new request takes the free slot whose cached prompt shares
the longest prefix with its own (the chat template, the system prompt, often the passages) and prefills only
the rest, as llama.cpp's server does with `cache_prompt`.

`kv_unified` (the default): one KV cache shared by all sequences, as llama.cpp's own server runs its slots by
default. On 2 cores it doubles the throughput under concurrent load (bench/serve.py, 64 clients: 2.11x the
one-at-a-time server, against 1.06x with a cache per sequence). Attention then runs over cells of the other
sequences, masked, which moved a prompt's last logits by up to 0.66 on the bundled SmolLM2 against the same prompt
alone (bench/kv_unified_drift.py): a batched request's greedy tokens can leave its one-at-a-time tokens where two
candidates are that close. `kv_unified=False` (`--kv-per-slot`) gives every sequence its own cache; then every
batched answer equals its one-at-a-time answer token for token (slm_assets_tests/serve/test_batching.py checks
both).

Each slot samples with its own llama.cpp sampler chain (temperature, top_p, seed; greedy at temperature
0), so requests in one batch never share random state.
"""

import codecs
import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.llama_batch import BatchContext, Sampler, end_of_generation, token_bytes
from slm_assets.serve.backends import Delta

log = logging.getLogger(__name__)

RATE_WINDOW_S = 10.0  # generated tokens/s is reported over this trailing window
# how often FreeCores re-counts the cores other processes keep busy. With 2 s a count set by a short busy spell
# held for up to 2 s: a single stream decoded at 0.70x llama-cpp-python direct, with 0.5 s at 0.87x
# (bench/results/serve_q8_0_*_2026-11-30.json, 2 cores)
FREE_CORES_INTERVAL_S = 0.5
_END = object()  # pushed to a request's queue when it ends without a final Delta (cancelled)

_GROUP_LOCKS: dict[str, threading.Lock] = {}
_GROUP_LOCKS_GUARD = threading.Lock()


def group_lock(group: str) -> threading.Lock:
    """One lock per exclusive group: schedulers of models that share the cores (base and tuned on CPU)
    take turns per step instead of decoding at once, which would oversubscribe the cores."""
    with _GROUP_LOCKS_GUARD:
        return _GROUP_LOCKS.setdefault(group, threading.Lock())


class StopScanner:
    """Cuts streamed text at the first stop string, holding back a tail that may be the start of one."""

    def __init__(self, stops) -> None:
        self.stops = [s for s in stops or () if s]
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text that is safe to send now, whether a stop string was reached)."""
        buffer = self.held + text
        cuts = [c for c in (buffer.find(s) for s in self.stops) if c >= 0]
        if cuts:
            self.held = ""
            return buffer[:min(cuts)], True
        keep = max((k for s in self.stops for k in range(min(len(s) - 1, len(buffer)), 0, -1)
                    if buffer.endswith(s[:k])), default=0)
        self.held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[:len(buffer) - keep], False

    def flush(self) -> str:
        text, self.held = self.held, ""
        return text


class FreeCores:
    """Threads for the next decodes: the cores this process may use minus those other processes keep busy,
    measured from /proc/stat and this process's CPU time every `interval` seconds (at least 1 thread).

    Why: llama.cpp's threads meet at a barrier after every operation. When more threads are runnable than
    there are cores, a thread waits at each barrier for a partner that is not scheduled: on the 2-core dev
    machine at load average 14, decode ran at 1 token/s with 2 threads and 8.5 with 1 (bench/serve.py). On
    a quiet machine every core is free and decode keeps its normal speed.
    """

    def __init__(self, most: int, interval: float = FREE_CORES_INTERVAL_S) -> None:
        self.most, self.interval = most, interval
        self.threads = most
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, int, int, float]:
        """(when, all CPU ticks, idle ticks, this process's CPU seconds)."""
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        times = os.times()
        return time.monotonic(), sum(ticks), ticks[3] + ticks[4], times.user + times.system

    def restart(self) -> int | None:
        """Start counting afresh when decoding resumes after an idle spell, with every core: what other processes
        did while this one had nothing to decode says little about now (a count taken while a benchmark's direct
        run filled the cores held 1 thread for the first 0.5 s of the next request). Returns the new thread
        count when it changed, else None."""
        try:
            self._last = self._sample()
        except OSError:
            pass
        if self.threads == self.most:
            return None
        self.threads = self.most
        return self.most

    def update(self) -> int | None:
        """The new thread count when the interval has passed and the count changed; else None."""
        if time.monotonic() - self._last[0] < self.interval:
            return None
        try:
            now = self._sample()
        except OSError:  # no /proc (not Linux): keep the current count
            return None
        (t0, all0, idle0, own0), (t1, all1, idle1, own1) = self._last, now
        self._last = now
        if all1 <= all0 or t1 <= t0:
            return None
        busy = (1 - (idle1 - idle0) / (all1 - all0)) * (os.cpu_count() or 1)  # cores busy, all processes
        others = max(0.0, busy - (own1 - own0) / (t1 - t0))
        threads = max(1, min(self.most, round(self.most - others)))
        if threads == self.threads:
            return None
        self.threads = threads
        return threads


@dataclass
class SlotRequest:
    """One generation: prompt token ids, its limits and sampling settings, and the queue its Deltas go to."""

    prompt: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)


class SlotStream:
    """The Deltas of one request, as they are generated; the last one carries finish_reason and the token
    counts. `cancel()` (or `close()`) frees the request's slot at the scheduler's next step."""

    def __init__(self, request: SlotRequest) -> None:
        self.request = request
        self._done = False

    def __iter__(self):
        return self

    def __next__(self) -> Delta:
        if self._done:
            raise StopIteration
        item = self.request.out.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if item.finish_reason is not None:
            self._done = True
        return item

    def cancel(self) -> None:
        """Stop: nothing more is returned, and the slot is freed at the next step (thread-safe)."""
        if not self._done:
            self.request.cancelled.set()
            self._done = True

    close = cancel


@dataclass
class _Slot:
    seq: int
    request: SlotRequest
    sampler: Sampler
    fed: int = 0  # prompt tokens already in the KV cache
    pos: int = 0  # position of the next token fed
    last: int | None = None  # the sampled token to feed at the next step (None while prefilling)
    generated: int = 0  # completion tokens (end-of-generation tokens excluded)
    text: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    stops: StopScanner | None = None


class SlotScheduler:
    """Serves `SlotRequest`s on `slots` sequences of `n_ctx` tokens each in one context of the loaded `llm`."""

    def __init__(self, llm, slots: int, n_ctx: int, threads: int, group: str, n_batch: int = 512,
                 name: str = "llama.cpp", adapt_threads: bool = False, kv_unified: bool = True) -> None:
        """`adapt_threads`: decode with the cores other processes leave free (`FreeCores`), up to `threads`;
        `kv_unified`: see the module docstring."""
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._llm = llm
        self.slots, self.n_ctx, self.name = slots, n_ctx, name
        self.context = BatchContext(llm, slots, n_ctx, max(n_batch, slots), threads, kv_unified=kv_unified)
        self._cores = FreeCores(threads) if adapt_threads else None
        self._end_tokens = frozenset(end_of_generation(llm))
        self._pending: queue.Queue = queue.Queue()
        self._free = list(range(slots - 1, -1, -1))
        self._cached: dict[int, list[int]] = {}  # free slot -> prompt tokens still in its KV cache
        self._active: dict[int, _Slot] = {}
        self._lock = group_lock(group)
        self._produced: deque = deque()  # (time, tokens generated in that step)
        self.cancelled = 0  # requests dropped because their client went away
        self.reused_tokens = 0  # prompt tokens taken from a slot's cache instead of prefilled
        self._thread = threading.Thread(target=self._loop, name=f"slm-slots-{name}", daemon=True)
        self._thread.start()

    @property
    def active_slots(self) -> int:
        return len(self._active)

    @property
    def queue_depth(self) -> int:
        """Requests handed to the scheduler that no slot has taken yet."""
        return self._pending.qsize()

    def tokens_per_second(self) -> float:
        """Completion tokens generated over the last RATE_WINDOW_S seconds, per second."""
        cutoff = time.perf_counter() - RATE_WINDOW_S
        return sum(n for t, n in list(self._produced) if t >= cutoff) / RATE_WINDOW_S

    def submit(self, request: SlotRequest) -> SlotStream:
        """Queue a request (ValueError when its prompt does not fit a slot); returns its stream of Deltas.
        `max_tokens` is cut to what the slot's context leaves after the prompt, as llama-cpp-python does."""
        if not self._thread.is_alive():
            raise RuntimeError(f"the {self.name} scheduler has stopped")
        if not request.prompt:
            raise ValueError("empty prompt")
        if len(request.prompt) >= self.n_ctx:
            raise ValueError(f"Requested tokens ({len(request.prompt)}) exceed context window of {self.n_ctx}")
        request.max_tokens = min(request.max_tokens, self.n_ctx - len(request.prompt))
        self._pending.put(request)
        return SlotStream(request)

    def close(self, timeout: float = 30.0) -> None:
        self._pending.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.context.close()

    def _loop(self) -> None:
        while self._admit():
            if not self._active:
                continue
            try:
                self._step()
            except Exception as exc:  # a failed decode fails the requests in it, not the server
                log.exception("%s: batch step failed", self.name)
                for seq in list(self._active):
                    self._release(seq, exc)
                self.context.clear()
                self._cached.clear()
        for seq in list(self._active):
            self._release(seq, RuntimeError("server shutting down"))

    def _admit(self) -> bool:
        """Move waiting requests into free slots; waits for one when no slot is busy. False: shut down."""
        block = not self._active
        while self._free:
            try:
                request = self._pending.get(block=block)
            except queue.Empty:
                return True
            if block and self._cores is not None:  # idle until now: count the free cores afresh
                self._set_threads(self._cores.restart())
            block = False
            if request is None:
                return False
            if request.cancelled.is_set():
                self.cancelled += 1
                request.out.put(_END)
                continue
            seq, reuse = self._take_slot(request.prompt)
            sampler = Sampler(request.temperature, request.top_p, request.seed)
            self._active[seq] = _Slot(seq, request, sampler, fed=reuse, pos=reuse, stops=StopScanner(request.stop))
        return True

    def _take_slot(self, prompt: list[int]) -> tuple[int, int]:
        """The free slot whose cached prompt shares the longest prefix with `prompt`, and how many of its
        tokens stay in the cache (never the last prompt token, whose logits the first sample needs)."""
        def shared(seq: int) -> int:
            return min(len(os.path.commonprefix([self._cached.get(seq, []), prompt])), len(prompt) - 1)

        seq = max(reversed(self._free), key=shared)  # ties: the slot `pop()` would have given
        self._free.remove(seq)
        reuse = self.context.trim(seq, shared(seq))
        self._cached.pop(seq, None)
        self.reused_tokens += reuse
        return seq, reuse

    def _fill_batch(self) -> list[tuple[_Slot, int]]:
        """The next token of every generating slot, then prompt tokens while the batch has room.
        Returns (slot, batch index) for every slot whose logits this step produces."""
        context = self.context
        context.start_batch()
        outputs = []
        for slot in self._active.values():
            if slot.last is not None:
                outputs.append((slot, context.add(slot.last, slot.pos, slot.seq, True)))
                slot.pos += 1
        for slot in self._active.values():
            prompt = slot.request.prompt
            while slot.last is None and slot.fed < len(prompt) and context.n_tokens < context.n_batch:
                final = slot.fed == len(prompt) - 1
                index = context.add(prompt[slot.fed], slot.fed, slot.seq, final)
                slot.fed += 1
                slot.pos = slot.fed
                if final:
                    outputs.append((slot, index))
        return outputs

    def _step(self) -> None:
        for seq in [s for s, slot in self._active.items() if slot.request.cancelled.is_set()]:
            self._release(seq, _END)
            self.cancelled += 1
        if not self._active:
            return
        outputs = self._fill_batch()
        if self._cores is not None:
            self._set_threads(self._cores.update())
        with self._lock:
            self.context.decode()
        before = sum(slot.generated for slot, _ in outputs)
        for slot, index in outputs:
            self._emit(slot, slot.sampler.sample(self.context, index))
        self._produced.append((time.perf_counter(), sum(slot.generated for slot, _ in outputs) - before))
        while self._produced and self._produced[0][0] < time.perf_counter() - RATE_WINDOW_S:
            self._produced.popleft()

    def _set_threads(self, threads: int | None) -> None:
        if threads is not None:
            log.info("%s: decoding with %d thread(s), the cores other processes leave free", self.name, threads)
            self.context.set_threads(threads)

    def _emit(self, slot: _Slot, token: int) -> None:
        request = slot.request
        if token in self._end_tokens:
            self._finish(slot, "stop")
            return
        slot.generated += 1
        slot.last = token
        text, stopped = slot.stops.feed(slot.text.decode(token_bytes(self._llm, token)))
        if text:
            request.out.put(Delta(text))
        if stopped:
            self._finish(slot, "stop", at_stop_string=True)
        elif slot.generated >= request.max_tokens or slot.pos >= self.n_ctx:
            self._finish(slot, "length")

    def _finish(self, slot: _Slot, reason: str, at_stop_string: bool = False) -> None:
        # held-back text that never became a stop string, and any incomplete UTF-8, belong to the answer
        rest = "" if at_stop_string else slot.stops.flush() + slot.text.decode(b"", final=True)
        if rest:
            slot.request.out.put(Delta(rest))
        self._release(slot.seq, Delta("", reason, len(slot.request.prompt), slot.generated))

    def _release(self, seq: int, last) -> None:
        """Free a slot and its sampler, keeping the prompt it fed in the cache for the next request that
        shares it; `last` (final Delta, error or _END) goes to the request."""
        slot = self._active.pop(seq)
        self._cached[seq] = slot.request.prompt[:self.context.trim(seq, slot.fed)]
        slot.sampler.close()
        self._free.append(seq)
        slot.request.out.put(last)
