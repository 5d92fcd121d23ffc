"""The worker queue in front of each model (`slm_assets.serve.runner.Runner`)."""

import asyncio
import threading
import time

from slm_assets.serve.runner import Runner


def test_a_stream_whose_client_leaves_while_it_waits_never_starts_and_is_counted_as_abandoned():
    runner = Runner("model", workers=1)
    holding, busy, started = threading.Event(), threading.Event(), []

    def hold_the_worker() -> str:
        holding.set()
        busy.wait(30)
        return "done"

    def start():
        started.append(True)
        return iter(["token"])

    async def scenario() -> None:
        first = asyncio.ensure_future(runner.run(hold_the_worker))
        while not holding.is_set():  # the only worker is busy before the stream is queued
            await asyncio.sleep(0.01)
        waiting = runner.stream(start)

        async def consume() -> None:
            async for _ in waiting:
                pass

        client = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)  # the stream waits in the queue behind the busy worker
        client.cancel()  # the client goes away
        await asyncio.gather(client, return_exceptions=True)
        busy.set()
        assert (await first)[0] == "done"

    try:
        asyncio.run(scenario())
        deadline = time.monotonic() + 30  # a bound for a hang: the worker takes the abandoned job next
        while runner.abandoned == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.abandoned == 1
        assert started == []  # never handed to the backend
    finally:
        runner.stop(timeout=5)
