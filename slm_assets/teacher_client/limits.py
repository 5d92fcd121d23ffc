"""Client-side rate limits for teacher calls: requests and tokens per minute, and whole-loop pauses.

A sliding window rather than a token bucket: a bucket that starts full lets a full minute's
allowance go out in the first second and then one more request a moment later, which a server
counting over a sliding minute refuses. Staying under the limit in every window is accepted by
either kind of server.

Tokens are not known before a call returns, so each call reserves an estimate (prompt characters
over a learned characters-per-token ratio, plus a learned completion length) and is corrected
with the usage the server reports.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Ticket:
    """One call's place in the window."""

    at: float
    tokens: int
    prompt_chars: int = 0


class SlidingWindowLimiter:
    """At most `requests_per_minute` calls and `tokens_per_minute` tokens in any window. Thread-safe.

    `clock` and `sleep` are injectable so tests can run on a fake clock. `safety_s` widens the
    window a little: the client stamps a call before the server does, so without it an entry would
    leave the client's window a moment before it leaves the server's.
    """

    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        window_s: float = 60.0,
        safety_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.window = window_s + safety_s
        self.clock, self.sleep = clock, sleep
        self.entries: deque[Ticket] = deque()
        self.paused_until = -math.inf
        self.lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self.entries and self.entries[0].at + self.window <= now:
            self.entries.popleft()

    def wait_time(self, tokens: int, now: float) -> float:
        """Seconds until a call of `tokens` fits (0: it fits now). Caller holds the lock."""
        if now < self.paused_until:
            return self.paused_until - now
        self._expire(now)
        wait = 0.0
        if self.rpm is not None and len(self.entries) + 1 > self.rpm:
            # the oldest len - rpm + 1 entries must leave the window
            wait = max(wait, self.entries[len(self.entries) - self.rpm].at + self.window - now)
        if self.tpm is not None:
            need = min(tokens, self.tpm)  # a call larger than the limit waits for an empty window
            excess = sum(e.tokens for e in self.entries) + need - self.tpm
            freed = 0
            for entry in self.entries:
                if excess <= 0:
                    break
                freed += entry.tokens
                if freed >= excess:
                    wait = max(wait, entry.at + self.window - now)
                    break
        return wait

    def acquire(self, tokens: int, prompt_chars: int = 0) -> Ticket:
        """Block until the call fits, then reserve it."""
        while True:
            with self.lock:
                now = self.clock()
                wait = self.wait_time(tokens, now)
                if wait <= 0:
                    ticket = Ticket(now, tokens, prompt_chars)
                    self.entries.append(ticket)
                    return ticket
            self.sleep(wait)

    def settle(self, ticket: Ticket, tokens: int) -> None:
        """Replace the estimate with the tokens the server counted."""
        with self.lock:
            ticket.tokens = tokens

    def pause(self, seconds: float) -> float:
        """Hold every acquire for `seconds` from now (a pause already longer is kept). Returns its end."""
        with self.lock:
            self.paused_until = max(self.paused_until, self.clock() + seconds)
            return self.paused_until


class TokenEstimator:
    """Tokens of a call before it is made, learned from the usage of earlier calls. Thread-safe."""

    def __init__(self, chars_per_token: float = 4.0, completion_share: float = 0.5):
        self.prompt_chars = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.completion_budget = 0  # sum of max_tokens of the observed calls
        self.default_cpt, self.default_share = chars_per_token, completion_share
        self.lock = threading.Lock()

    def estimate(self, prompt_chars: int, max_tokens: int) -> int:
        with self.lock:
            cpt = self.prompt_chars / self.prompt_tokens if self.prompt_tokens else self.default_cpt
            share = self.completion_tokens / self.completion_budget if self.completion_budget else self.default_share
        return math.ceil(prompt_chars / cpt + min(1.0, share) * max_tokens)

    def observe(self, prompt_chars: int, prompt_tokens: int, completion_tokens: int, max_tokens: int) -> None:
        if prompt_tokens <= 0:  # a server that reports no usage teaches nothing
            return
        with self.lock:
            self.prompt_chars += prompt_chars
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.completion_budget += max_tokens


class TeacherLimits:
    """What a teacher call goes through: the window, the estimator, and the run's usage totals."""

    def __init__(self, limiter: SlidingWindowLimiter | None = None, estimator: TokenEstimator | None = None):
        self.limiter = limiter or SlidingWindowLimiter()
        self.estimator = estimator or TokenEstimator()
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.lock = threading.Lock()

    @classmethod
    def per_minute(cls, requests_per_minute: int | None, tokens_per_minute: int | None) -> "TeacherLimits":
        # one second of safety: see SlidingWindowLimiter
        return cls(SlidingWindowLimiter(requests_per_minute, tokens_per_minute, safety_s=1.0))

    def before(self, messages: list[dict], max_tokens: int) -> Ticket:
        chars = sum(len(m.get("content") or "") for m in messages)
        with self.lock:
            self.requests += 1
        return self.limiter.acquire(self.estimator.estimate(chars, max_tokens), prompt_chars=chars)

    def after(self, ticket: Ticket, prompt_tokens: int, completion_tokens: int, max_tokens: int) -> None:
        if prompt_tokens or completion_tokens:
            self.limiter.settle(ticket, prompt_tokens + completion_tokens)
        self.estimator.observe(ticket.prompt_chars, prompt_tokens, completion_tokens, max_tokens)
        with self.lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def pause(self, seconds: float) -> float:
        return self.limiter.pause(seconds)

    def totals(self) -> tuple[int, int, int]:
        """(requests, prompt tokens, completion tokens) of this run so far."""
        with self.lock:
            return self.requests, self.prompt_tokens, self.completion_tokens
