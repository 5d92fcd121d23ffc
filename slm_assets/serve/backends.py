"""Model backends behind the server: llama.cpp on a GGUF (CPU default) and transformers (GPU).

Both answer `chat(messages, ...)` and `complete(prompt, ...)`. With `stream=False` they return a
`Generation`; with `stream=True` an iterator of `Delta`s whose last item carries `finish_reason`
and the token counts. The llama.cpp backend batches concurrent requests (a scheduler thread owns
its context; `slots` of them decode together). The transformers backend batches greedy requests with
transformers' continuous batching when it has slots (CUDA by default, `hf_batching`); other requests
take its model's lock, which a streaming iterator holds until it is exhausted or closed.
"""

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from slm_assets.models import end_of_generation_ids
from slm_assets.processes import usable_cpu_cores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text; the last one has finish_reason and the token counts set."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Backend(Protocol):
    kind: str  # "llama.cpp" | "transformers"
    version: str  # registry version (or "" for an unregistered model)
    system_prompt: str | None  # prepended when a chat request brings no system message
    exclusive_group: str  # backends sharing a group never generate at the same time

    def chat(self, messages: Sequence[dict], max_tokens: int, temperature: float, stream: bool = False,
             stop: Sequence[str] | None = None, top_p: float = 1.0,
             seed: int | None = None) -> Generation | Iterator[Delta]: ...

    def complete(self, prompt: str, max_tokens: int, temperature: float, stream: bool = False,
                 stop: Sequence[str] | None = None, top_p: float = 1.0,
                 seed: int | None = None) -> Generation | Iterator[Delta]: ...

    def close(self) -> None: ...  # stops the backend's threads and frees the model


# requests decoded together per llama.cpp model (and per transformers model on CUDA); the KV cache of 8 x 2048
# tokens is ~380 MB for SmolLM2-135M (bench/serve.py and bench/serve_hf.py measure what batching gains)
DEFAULT_SLOTS = 8
# libgomp's spin before a waiting OpenMP thread sleeps; chosen by bench/serve.py (see bounded_openmp_spin)
OPENMP_SPIN_COUNT = 10_000


def default_threads() -> int:
    return usable_cpu_cores()


def bounded_openmp_spin() -> None:
    """Let llama.cpp's OpenMP threads spin briefly at barriers, then sleep.

    llama-cpp-python's CPU backend here is built with OpenMP (libgomp). Its threads wait at a barrier
    after every operation of a decode step, usually for microseconds. libgomp's default spins up to
    300,000 times before sleeping; on a quiet machine that is what makes decode fast, but when other
    work holds a core, a spinning thread burns the time slice its partner needs (the dev machine under
    load once decoded at ~1 token/s). OMP_WAIT_POLICY=PASSIVE (never spin) fixes the loaded case and
    costs ~3x on a quiet machine (39 vs 104-118 tokens/s). A bounded spin (GOMP_SPINCOUNT) covers the
    usual barrier waits on a quiet machine. It does not rescue two threads on saturated cores: at load
    average 13 on 2 cores (bench/results/serve.json) 2 threads decoded under 1 token/s with the default
    spin and with 10,000, and 13-20 with PASSIVE. What does is fewer threads: the server decodes with the
    cores other processes leave free (`slots.FreeCores`), 1 thread there, where no barrier waits at all
    (19 tokens/s through the server in the same run). So: bounded spin for the quiet case, free cores for
    the loaded one.
    libgomp reads the setting once, when it is loaded, so this only works before llama_cpp is first
    imported. An explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    if "llama_cpp" in sys.modules:
        log.info("llama_cpp was imported before the server bounded GOMP_SPINCOUNT; its OpenMP threads keep "
                 "libgomp's default spin")
        return
    os.environ["GOMP_SPINCOUNT"] = str(OPENMP_SPIN_COUNT)


class LlamaCppBackend:
    """A GGUF served by llama.cpp with continuous batching (`slm_assets.serve.slots`): up to `slots`
    requests decode together, each in its own sequence of `n_ctx` tokens; chat uses the GGUF's chat template.
    `slots=1` is the one-at-a-time server; `kv_unified`: one KV cache for all slots (the default, as in
    llama.cpp's server; False gives each slot its own, see `slm_assets.serve.slots`); `chat_template`: for a
    GGUF that carries none (a bundled pretrained model)."""

    kind = "llama.cpp"

    def __init__(self, gguf_path: Path | str, n_threads: int | None = None, n_ctx: int = 2048, *,
                 version: str = "", system_prompt: str | None = None, n_gpu_layers: int = 0,
                 slots: int = DEFAULT_SLOTS, kv_unified: bool = True, chat_template: str | None = None) -> None:
        bounded_openmp_spin()
        from slm_assets.llama_models import open_llama
        from slm_assets.serve.slots import SlotScheduler

        self.gguf_path = Path(gguf_path)
        self.version = str(version)
        self.system_prompt = system_prompt
        # no thread count given: use up to every core, fewer while other processes keep cores busy (FreeCores)
        self.n_threads = n_threads or default_threads()
        self.slots = slots
        # All CPU models share the cores: their schedulers take turns per step (one exclusive group).
        self.exclusive_group = "llama.cpp:gpu" if n_gpu_layers else "cpu"
        # This Llama only holds the weights, tokenizer and metadata; decoding runs in the scheduler's context.
        self._llm = open_llama(self.gguf_path, n_threads=self.n_threads, n_ctx=64, n_batch=64,
                               n_gpu_layers=n_gpu_layers)
        self._formatter = self._chat_formatter(chat_template)
        self._scheduler = SlotScheduler(self._llm, slots, n_ctx, self.n_threads, self.exclusive_group,
                                        name=self.gguf_path.name, adapt_threads=n_threads is None and not n_gpu_layers,
                                        kv_unified=kv_unified)
        log.info("loaded %s (llama.cpp, %d threads, %d slots of n_ctx %d, chat template %s)", self.gguf_path.name,
                 self.n_threads, slots, n_ctx, "yes" if self._formatter else "none")

    @property
    def active_slots(self) -> int:
        return self._scheduler.active_slots

    @property
    def queue_depth(self) -> int:
        return self._scheduler.queue_depth

    def tokens_per_second(self) -> float:
        return self._scheduler.tokens_per_second()

    def close(self) -> None:
        """Stop the scheduler and free the llama.cpp model now rather than at interpreter exit."""
        self._scheduler.close()
        self._llm.close()

    def _chat_formatter(self, chat_template: str | None = None):
        """The GGUF's own Jinja chat template (`tokenizer.chat_template`), or `chat_template` when the file has
        none, as llama-cpp-python builds it."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template") or chat_template
        if not template:
            return None
        eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
        model = self._llm._model
        return Jinja2ChatFormatter(template=template,
                                   eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
                                   bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
                                   stop_token_ids=[eos_id])

    def chat(self, messages, max_tokens, temperature, stream=False, stop=None, top_p=1.0, seed=None):
        if self._formatter is None:
            raise ValueError(f"{self.gguf_path.name} carries no chat template: use the completions API")
        formatted = self._formatter(messages=list(messages))
        tokens = self._llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special,
                                    special=True)
        # the template's end-of-turn token ends generation as an end-of-generation token already
        extra_stops = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        return self._generate(tokens, max_tokens, temperature, stream, [*(stop or []), *extra_stops], top_p, seed)

    def complete(self, prompt, max_tokens, temperature, stream=False, stop=None, top_p=1.0, seed=None):
        tokens = self._llm.tokenize(prompt.encode("utf-8"), special=True) if prompt else [self._llm.token_bos()]
        return self._generate(tokens, max_tokens, temperature, stream, list(stop or []), top_p, seed)

    def _generate(self, tokens, max_tokens, temperature, stream, stop, top_p, seed):
        """Hand the request to the scheduler: its stream of Deltas, or (stream=False) the whole Generation."""
        from slm_assets.serve.slots import SlotRequest

        deltas = self._scheduler.submit(SlotRequest(prompt=list(tokens), max_tokens=max_tokens,
                                                    temperature=temperature, top_p=top_p, seed=seed, stop=stop))
        return deltas if stream else collect(deltas, len(tokens))


class TransformersBackend:
    """A Hugging Face model (a bundle's merged/ directory or a base model reference) on CUDA or CPU."""

    kind = "transformers"

    def __init__(self, model: Path | str, cache_dir: Path | None = None, device: str | None = None, *,
                 version: str = "", system_prompt: str | None = None, slots: int | None = None,
                 n_ctx: int = 2048) -> None:
        """`slots`: greedy requests decoded together by transformers' continuous batching (`hf_batching`), each of
        up to `n_ctx` tokens; default DEFAULT_SLOTS on CUDA, 1 (one request at a time, under a lock) elsewhere."""
        from slm_assets.models import load_causal_lm, load_tokenizer, pick_device

        self.version = str(version)
        self.system_prompt = system_prompt
        self.device = device or pick_device()
        # On CPU it shares the cores with any llama.cpp model: same exclusive group.
        self.exclusive_group = "cpu" if self.device == "cpu" else f"torch:{self.device}"
        if cache_dir is None:
            from slm_assets.settings import get_settings

            cache_dir = get_settings().models_cache_dir
        cache = Path(cache_dir)
        self.tokenizer = load_tokenizer(str(model), cache)
        self.model = load_causal_lm(str(model), cache, device=self.device)
        # the generation config's eos and the tokenizer's (a chat model's end of turn, e.g. <|im_end|>), once
        self._end_ids = end_of_generation_ids(self.model, self.tokenizer)
        self._lock = threading.Lock()
        self.slots = slots if slots is not None else (DEFAULT_SLOTS if self.device.startswith("cuda") else 1)
        self._batcher = None
        if self.slots > 1:
            from slm_assets.serve.hf_batching import ContinuousBatcher

            self._batcher = ContinuousBatcher(self.model, self.tokenizer, self.slots, n_ctx, self._end_ids)
        log.info("loaded %s (transformers on %s, %d slot(s))", model, self.device, self.slots)

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def _encode_chat(self, messages):
        return self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                  return_tensors="pt", return_dict=True)["input_ids"]

    def _encode_prompt(self, prompt: str):
        return self.tokenizer(prompt, return_tensors="pt")["input_ids"]

    def chat(self, messages, max_tokens, temperature, stream=False, stop=None, top_p=1.0, seed=None):
        return self._run(self._encode_chat(messages), max_tokens, temperature, stream, stop, top_p, seed)

    def complete(self, prompt, max_tokens, temperature, stream=False, stop=None, top_p=1.0, seed=None):
        return self._run(self._encode_prompt(prompt), max_tokens, temperature, stream, stop, top_p, seed)

    def _generate_kwargs(self, input_ids, max_tokens, temperature, stop, top_p, seed) -> dict:
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        kwargs = {"input_ids": input_ids.to(self.device), "attention_mask": torch.ones_like(input_ids).to(self.device),
                  "max_new_tokens": max_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                  "eos_token_id": sorted(self._end_ids)}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        return kwargs

    def _finish(self, new_ids, max_tokens: int) -> tuple[str, int]:
        """(finish_reason, completion tokens without the end-of-generation token)."""
        if len(new_ids) and int(new_ids[-1]) in self._end_ids:
            return "stop", len(new_ids) - 1
        return ("length" if len(new_ids) >= max_tokens else "stop"), len(new_ids)

    def _run(self, input_ids, max_tokens, temperature, stream, stop, top_p, seed):
        import torch

        if self._batcher is not None and temperature <= 0:  # greedy requests are batched (hf_batching)
            deltas = self._batcher.generate(input_ids[0].tolist(), max_tokens, stop)
            return deltas if stream else collect(deltas, int(input_ids.shape[1]))
        args = (input_ids, max_tokens, temperature, stop, top_p, seed)
        if stream:
            return self._stream(args)
        with self._lock, torch.inference_mode():  # seeding inside the lock: the RNG is global
            output = self.model.generate(**self._generate_kwargs(*args))[0]  # (prompt + new,)
        new_ids = output[input_ids.shape[1]:]
        finish, n_new = self._finish(new_ids, max_tokens)
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        if stop:
            text = _cut_at_stop(text, stop)
        return Generation(text, int(input_ids.shape[1]), int(n_new), finish)

    def _stream(self, args) -> Iterator[Delta]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **_):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

        class _Counting(TextIteratorStreamer):
            def put(self, value):
                if not (self.skip_prompt and self.next_tokens_are_prompt):
                    self.new_tokens.extend(int(t) for t in value.reshape(-1))
                super().put(value)

        streamer = _Counting(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        streamer.new_tokens = []
        errors: list[BaseException] = []
        n_prompt = int(args[0].shape[1])

        def work():
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs, streamer=streamer,
                                        stopping_criteria=StoppingCriteriaList([_Cancelled()]))
            except BaseException as exc:  # handed to the consumer below
                errors.append(exc)
                streamer.end()

        with self._lock:
            kwargs = self._generate_kwargs(*args)
            thread = threading.Thread(target=work, name="slm-hf-generate", daemon=True)
            thread.start()
            try:
                for text in streamer:
                    if text:
                        yield Delta(text)
            finally:
                cancel.set()
                thread.join()
            if errors:
                raise errors[0]
            finish, n_new = self._finish(streamer.new_tokens, kwargs["max_new_tokens"])
            yield Delta("", finish, n_prompt, n_new)


def collect(deltas: Iterator[Delta], prompt_tokens: int) -> Generation:
    """The whole Generation of a stream of Deltas (closed afterwards, also when it fails)."""
    try:
        pieces = list(deltas)
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
    last = pieces[-1] if pieces else Delta("", "stop", prompt_tokens, 0)
    return Generation(text="".join(p.text for p in pieces), prompt_tokens=last.prompt_tokens or 0,
                      completion_tokens=last.completion_tokens or 0, finish_reason=last.finish_reason or "stop")


class CoalescedDeltas:
    """A Delta stream that sends at most one Delta per `interval_s`: the pieces decoded in between are joined into
    the next one. The first text and the last Delta (with `finish_reason`) go out as soon as they are decoded. On 2 cores
    every streamed chunk costs the decoding threads CPU time (a thread hand-off, an SSE event, the client's parse);
    see the README's "Continuous batching" for what it saves. `cancel()` and `close()` reach the wrapped stream."""

    def __init__(self, deltas: Iterator[Delta], interval_s: float) -> None:
        self._deltas = deltas
        self._interval_s = interval_s
        self._sent = -math.inf  # when the last Delta went out
        self._done = False

    def __iter__(self) -> "CoalescedDeltas":
        return self

    def __next__(self) -> Delta:
        pending = None
        while not self._done:
            try:
                delta = next(self._deltas)
            except StopIteration:
                self._done = True
                break
            pending = delta if pending is None else Delta(pending.text + delta.text, delta.finish_reason,
                                                          delta.prompt_tokens, delta.completion_tokens)
            now = time.monotonic()
            if delta.finish_reason is not None or (pending.text and now - self._sent >= self._interval_s):
                self._sent = now
                return pending
        if pending is None:
            raise StopIteration
        return pending

    def cancel(self) -> None:
        cancel = getattr(self._deltas, "cancel", None)
        if cancel is not None:
            cancel()

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cuts = [text.index(s) for s in stop if s and s in text]
    return text[:min(cuts)] if cuts else text
