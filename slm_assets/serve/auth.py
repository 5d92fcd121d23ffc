"""API keys (kept only as SHA-256 digests), per-key token-bucket rate limits, OpenAI-shaped errors."""

import hashlib
import hmac
import logging
import math
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

KEYS_ENV = "SLM_API_KEYS"


def openai_error(message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> dict:
    """The body OpenAI's API returns on errors; the `openai` client reads `error.message`."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiKeys:
    """The accepted keys, as SHA-256 digests: the plain keys are never stored.

    A key's id (for logs and metrics) is the first 8 hex digits of its digest.
    """

    def __init__(self, digests: Iterable[bytes]) -> None:
        self._digests = tuple(dict.fromkeys(digests))  # ordered, unique

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> "ApiKeys":
        return cls(hashlib.sha256(k.encode()).digest() for k in (k.strip() for k in keys) if k)

    @classmethod
    def from_sources(cls, env_value: str | None = None, keys_file: Path | None = None) -> "ApiKeys":
        """Keys from `SLM_API_KEYS` (comma-separated; read from the environment when env_value is None)
        and/or a file with one key per line (blank lines and lines starting with # are skipped)."""
        env_value = os.environ.get(KEYS_ENV, "") if env_value is None else env_value
        keys = [k for k in env_value.split(",") if k.strip()]
        if keys_file is not None:
            lines = Path(keys_file).read_text(encoding="utf-8").splitlines()
            keys += [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return cls.from_keys(keys)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self)} keys)"

    def identify(self, presented: str) -> str | None:
        """The key id when `presented` is an accepted key, else None. Every digest is compared
        (no early exit), each in constant time."""
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for candidate in self._digests:
            if hmac.compare_digest(candidate, digest):
                found = candidate
        return found.hex()[:8] if found is not None else None


def presented_key(headers) -> str | None:
    """The key from `Authorization: Bearer <key>` or `x-api-key: <key>` (None when neither is sent)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # an Authorization header that carries no bearer key counts as a wrong key
    key = headers.get("x-api-key")
    return key.strip() if key is not None else None


class RateLimiter:
    """A token bucket per key: `per_minute` requests refill evenly; up to `burst` may come at once.

    `per_minute <= 0` disables the limit.
    """

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> float:
        """0 when the request may go ahead, else the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
