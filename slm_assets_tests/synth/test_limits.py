"""The client-side limiter on a fake clock: requests and tokens per minute, corrections, pauses."""

import threading
import time

import pytest

from slm_assets.teacher_client.limits import SlidingWindowLimiter, TeacherLimits, TokenEstimator
from slm_assets.testing.clock import FakeClock


def limiter(clock: FakeClock, rpm=None, tpm=None) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(rpm, tpm, window_s=60.0, clock=clock, sleep=clock.sleep)


def test_requests_per_minute_is_a_sliding_window():
    clock = FakeClock()
    lim = limiter(clock, rpm=3)
    for at in (0.0, 10.0, 20.0):
        clock.now = at
        lim.acquire(1)
    assert clock.sleeps == []
    clock.now = 30.0
    lim.acquire(1)  # the fourth waits until the first leaves the window (t=60)
    assert clock.sleeps == [30.0] and clock.now == 60.0
    lim.acquire(1)  # the fifth until the second leaves (t=70)
    assert clock.now == 70.0
    starts = [e.at for e in lim.entries]
    assert starts == [20.0, 60.0, 70.0]


def test_tokens_per_minute_waits_for_enough_tokens_to_leave_the_window():
    clock = FakeClock()
    lim = limiter(clock, tpm=1000)
    lim.acquire(400)
    clock.now = 5.0
    lim.acquire(400)
    clock.now = 10.0
    assert lim.wait_time(300, clock.now) == pytest.approx(50.0)  # 1100 > 1000: the first 400 must leave
    lim.acquire(300)
    assert clock.now == 60.0
    # 5000 > the limit: waits for an empty window instead of forever
    assert lim.wait_time(5000, clock.now) == pytest.approx(60.0)


def test_settle_corrects_the_estimate_with_the_usage():
    clock = FakeClock()
    lim = limiter(clock, tpm=1000)
    ticket = lim.acquire(900)  # estimated high
    assert lim.wait_time(200, clock.now) == pytest.approx(60.0)
    lim.settle(ticket, 300)  # the server counted 300
    assert lim.wait_time(200, clock.now) == 0.0
    lim.settle(ticket, 1000)  # or more than estimated: later calls wait longer
    assert lim.wait_time(1, clock.now) == pytest.approx(60.0)


def test_pause_holds_every_call_and_is_never_shortened():
    clock = FakeClock()
    lim = limiter(clock)
    assert lim.pause(5.0) == 5.0
    assert lim.pause(1.0) == 5.0
    lim.acquire(10)
    assert clock.now == 5.0 and clock.sleeps == [5.0]


def test_estimator_learns_characters_per_token_and_completion_share():
    est = TokenEstimator(chars_per_token=4.0, completion_share=0.5)
    assert est.estimate(4000, 200) == 1000 + 100
    est.observe(prompt_chars=3000, prompt_tokens=1000, completion_tokens=50, max_tokens=200)
    assert est.estimate(3000, 200) == 1000 + 50
    est.observe(prompt_chars=3000, prompt_tokens=0, completion_tokens=0, max_tokens=200)  # no usage: ignored
    assert est.estimate(3000, 200) == 1050


def test_teacher_limits_count_usage_and_correct_the_window():
    clock = FakeClock()
    limits = TeacherLimits(limiter(clock, rpm=10, tpm=2000))
    messages = [{"role": "user", "content": "x" * 400}]
    ticket = limits.before(messages, max_tokens=100)
    assert ticket.tokens == 100 + 50
    limits.after(ticket, prompt_tokens=120, completion_tokens=30, max_tokens=100)
    assert ticket.tokens == 150 and limits.totals() == (1, 120, 30)
    # learned: 400 chars were 120 tokens, 30 of 100 completion tokens were used
    assert limits.before(messages, max_tokens=100).tokens in (150, 151)


def test_concurrent_acquires_never_exceed_the_limit_in_any_window():
    lim = SlidingWindowLimiter(requests_per_minute=3, window_s=0.4)
    starts: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        lim.acquire(1)
        with lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    starts.sort()
    assert len(starts) == 7
    for i in range(len(starts) - 3):
        assert starts[i + 3] - starts[i] >= 0.4 - 1e-3  # any 4 consecutive starts span a full window
