"""Continuous batching for the transformers backend, with transformers' own `ContinuousBatchingManager`
(`model.init_continuous_batching`): a paged KV cache, requests joining and leaving between steps, one background
thread that owns the model's decoding. What this module adds is what the server needs around it: one thread that
routes the manager's outputs to each request's queue, text deltas cut at stop strings, `max_tokens`, and
cancellation when the client leaves.

The manager takes `do_sample` from its generation config, one setting for all the requests it batches, and has no
per-request seed. So it batches greedy requests (temperature 0, what the grounded API and the benchmark ask);
the backend runs a sampled request with `generate` under its lock, as before.
"""

import math
import queue
import threading
from collections.abc import Iterator, Sequence

from slm_assets.serve.backends import Delta
from slm_assets.serve.slots import StopScanner

PAGE_TOKENS = 256  # tokens per KV page of the manager (its default page size)


class ContinuousBatcher:
    """Greedy generation for up to `slots` requests at once, each of up to `n_ctx` tokens (prompt + answer)."""

    def __init__(self, model, tokenizer, slots: int, n_ctx: int, end_ids: Sequence[int],
                 max_batch_tokens: int = 512) -> None:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self.tokenizer, self.n_ctx = tokenizer, n_ctx
        self.end_ids = frozenset(int(t) for t in end_ids)
        generation = GenerationConfig(do_sample=False, max_new_tokens=n_ctx, eos_token_id=sorted(self.end_ids),
                                      pad_token_id=tokenizer.pad_token_id)
        # the cache is sized for `slots` full requests, not from free GPU memory, so that it is the same on every
        # machine and leaves room for the un-batched path
        config = ContinuousBatchingConfig(max_requests_per_batch=slots, max_batch_tokens=max_batch_tokens,
                                          page_size=PAGE_TOKENS, num_blocks=slots * math.ceil(n_ctx / PAGE_TOKENS))
        self._manager = model.init_continuous_batching(generation_config=generation,
                                                       continuous_batching_config=config)
        self._manager.start()
        self._queues: dict[str, queue.SimpleQueue] = {}
        self._lock = threading.Lock()
        self._running = True
        self._router = threading.Thread(target=self._route, name="slm-hf-batch-router", daemon=True)
        self._router.start()

    def close(self) -> None:
        self._running = False
        self._manager.stop(block=True)
        self._router.join(5)

    def _route(self) -> None:
        """Hand every output of the manager to the queue of its request (outputs of a left request are dropped)."""
        while self._running:
            output = self._manager.get_result(timeout=0.1)
            if output is None:
                continue
            with self._lock:
                target = self._queues.get(output.request_id)
            if target is not None:
                target.put(output)

    def generate(self, prompt_ids: list[int], max_tokens: int, stop: Sequence[str] | None = None) -> Iterator[Delta]:
        """Queue one greedy answer (ValueError now when the prompt does not fit) and return its Deltas, the last
        with finish_reason and token counts. Closing the iterator early cancels the request in the manager."""
        if len(prompt_ids) >= self.n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt_ids)}) exceed context window of {self.n_ctx}")
        max_tokens = min(max_tokens, self.n_ctx - len(prompt_ids))
        outputs: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:  # registered before the first output can arrive
            request_id = self._manager.add_request(list(prompt_ids), max_new_tokens=max_tokens, streaming=True,
                                                   eos_token_id=sorted(self.end_ids))
            if request_id is None:
                raise RuntimeError("the continuous batching manager refused the request (stopping or failed)")
            self._queues[request_id] = outputs
        return self._stream(request_id, outputs, len(prompt_ids), max_tokens, stop)

    def _stream(self, request_id: str, outputs: queue.SimpleQueue, n_prompt: int, max_tokens: int,
                stop: Sequence[str] | None) -> Iterator[Delta]:
        done = False  # the manager finished the request (else: a stop string, an error or the client left)
        try:
            done = yield from self._deltas(outputs, n_prompt, max_tokens, stop)
        finally:
            with self._lock:
                self._queues.pop(request_id, None)
            if not done:
                self._manager.cancel_request(request_id)

    def _deltas(self, outputs: queue.SimpleQueue, n_prompt: int, max_tokens: int, stop: Sequence[str] | None):
        """Yields the Deltas; returns whether the manager finished the request (False: cut at a stop string)."""
        scanner = StopScanner(stop)
        sent = ""  # text decoded so far, before the stop scanner
        while True:
            output = outputs.get()
            if output.error:
                raise RuntimeError(f"continuous batching failed: {output.error}")
            tokens = list(output.generated_tokens)
            ended = bool(tokens) and tokens[-1] in self.end_ids
            answer = tokens[:-1] if ended else tokens
            text = self.tokenizer.decode(answer, skip_special_tokens=True)
            if not text.endswith("\ufffd") or output.is_finished():  # hold an incomplete UTF-8 character back
                piece, stopped = scanner.feed(text[len(sent):])
                sent = text
                if piece:
                    yield Delta(piece)
                if stopped:
                    yield Delta("", "stop", n_prompt, len(answer))
                    return output.is_finished()
            if output.is_finished():
                rest = scanner.flush()
                if rest:
                    yield Delta(rest)
                reason = "stop" if ended or len(answer) < max_tokens else "length"
                yield Delta("", reason, n_prompt, len(answer))
                return True
