"""An httpx transport that checks every connect against the address policy and a request deadline.

httpx resolves and connects inside httpcore's network backend. Replacing that backend means the
address policy runs on the very addresses the socket connects to (no second DNS lookup after the
check, so no DNS rebinding), and every socket operation gets at most the time left before the
request's deadline (so a server that trickles one byte per read-timeout still ends on time).
"""

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

from slm_assets.ingest.address_policy import AddressPolicy, HostUnresolvable

# Monotonic time by which the current request must be done; set per request by `deadline()`.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("slm_fetch_deadline", default=None)


class DeadlineExceeded(httpcore.ReadTimeout):
    """Raised instead of a socket wait when the request's total deadline has passed."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket wait of the requests inside this block ends by `seconds` from now."""
    until = time.monotonic() + seconds
    token = _DEADLINE.set(until)
    try:
        yield until
    finally:
        _DEADLINE.reset(token)


def _clamp(timeout: float | None) -> float | None:
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("total request deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        # TLS verifies `server_hostname` (the URL's name), not the pinned IP we connected to.
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check every address, then connect to a checked address by IP."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = self._policy.resolve(host, port)  # raises AddressRefused: not an httpcore error
        except HostUnresolvable as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address), port, _clamp(timeout), local_address=local_address, socket_options=socket_options
                )
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with the connection pool rebuilt on the guarded backend.

    httpx does not take a network backend as an argument, so the pool it builds is replaced; the
    DNS-rebinding test in slm_assets_tests/ingest fails if a new httpx stops using this pool.
    """

    def __init__(self, policy: AddressPolicy, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)  # no proxy from the environment: it would skip the guard
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )
