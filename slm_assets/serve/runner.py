"""Worker threads per exclusive group of models: requests wait in a FIFO queue, first come first served.

Generation is blocking C/torch work; running it on the event loop would stall every connection,
and running it on anyio's shared thread pool would let requests that wait for a busy model fill
that pool. Dedicated threads per group keep the order fair (a lock alone does not queue in
order) and let the event loop bound the queue and report how long requests waited. A group whose
backend batches (llama.cpp slots) gets one worker per slot: each worker hands one request to the
backend's scheduler and relays its output, so the queue here holds the requests no slot can take yet.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """More requests are waiting for this model than the server accepts."""


class Runner:
    def __init__(self, name: str, max_waiting: int = 256, workers: int = 1) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self._jobs: queue.Queue = queue.Queue()
        self._waiting = 0
        self.abandoned = 0  # streamed requests whose client left before their generation began: never started
        self._abandoned_lock = threading.Lock()  # workers count them
        self._threads = [threading.Thread(target=self._loop, name=f"slm-runner-{name}-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    @property
    def waiting(self) -> int:
        return self._waiting

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a job reports its own errors; this only keeps the worker alive
                log.exception("runner %s: job failed outside its handler", self.name)

    def stop(self, timeout: float = 30.0) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _admit(self) -> None:
        if self._waiting >= self.max_waiting:
            raise QueueFull(f"{self._waiting} requests already waiting for {self.name}")
        self._waiting += 1

    def _started(self) -> None:
        self._waiting -= 1

    async def run(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        """Run `fn` on the worker; returns (its result, seconds waited in the queue)."""
        self._admit()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queued = time.perf_counter()
        waited = [0.0]

        def job() -> None:
            waited[0] = time.perf_counter() - queued
            _post(loop, self._started)
            if future.cancelled():  # the client went away while waiting
                return
            try:
                result = fn()
            except BaseException as exc:
                _post(loop, _settle, future, None, exc)
            else:
                _post(loop, _settle, future, result, None)

        self._jobs.put(job)
        return await future, waited[0]

    def stream(self, start: Callable[[], Iterator[Any]]) -> AsyncIterator[tuple[Any, float]]:
        """Queue `start()` now (QueueFull if too many wait) and return an async iterator of
        (item, seconds waited in the queue before generation began).

        Closing the async iterator (client disconnect) stops the worker's iteration at the next item,
        and at once where the iterator has a `cancel()` (a llama.cpp slot is freed at the next step).
        """
        self._admit()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        queued = time.perf_counter()
        waited = [0.0]
        running: list = []  # the backend's iterator, once started

        def job() -> None:
            waited[0] = time.perf_counter() - queued
            _post(loop, self._started)
            if cancelled.is_set():
                with self._abandoned_lock:
                    self.abandoned += 1
                return
            iterator = None
            try:
                iterator = start()
                running.append(iterator)
                if cancelled.is_set():  # the client left while start() ran
                    return
                for item in iterator:
                    if cancelled.is_set():
                        break
                    _post(loop, items.put_nowait, ("item", item))
                _post(loop, items.put_nowait, ("end", None))
            except BaseException as exc:
                _post(loop, items.put_nowait, ("error", exc))
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # releases the backend's lock when the consumer stopped early

        async def consume() -> AsyncIterator[tuple[Any, float]]:
            try:
                while True:
                    kind, value = await items.get()
                    if kind == "end":
                        return
                    if kind == "error":
                        raise value
                    yield value, waited[0]
            finally:
                cancelled.set()
                cancel = getattr(running[0], "cancel", None) if running else None
                if cancel is not None:
                    cancel()  # thread-safe: only flags the request

        self._jobs.put(job)
        return consume()


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _post(loop: asyncio.AbstractEventLoop, fn, *args) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the event loop has closed (server shut down mid-generation)
        pass
