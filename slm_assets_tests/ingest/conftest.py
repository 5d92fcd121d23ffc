"""Fixtures for the ingest tests: real HTTP servers on 127.0.0.1 and a crawl config that reaches them.

The crawl config keeps `allow_private_hosts` false, as in production, and opens only the test
server's own address through `allowed_private_networks=["127.0.0.1/32"]`; so every test also runs
the address policy that refuses 10.0.0.0/8, link-local and the rest.
"""

import socket
from collections.abc import Iterator

import pytest

from slm_assets.ingest.config import CrawlConfig
from slm_assets.testing.web_site import Site, start_site

# Small limits so hostile routes end fast: the whole folder stays well under 30 s.
TEST_LIMITS = dict(
    delay_s=0.0, connect_timeout_s=1.0, read_timeout_s=1.0, total_timeout_s=1.0, max_bytes=300_000,
    max_redirects=3, max_depth=0, concurrency=2, allowed_private_networks=["127.0.0.1/32"],
)


def _serve(robots_status: int | None = None) -> Iterator[Site]:
    site, server = start_site(robots_status)
    try:
        yield site
    finally:
        site.stop.set()  # ends the trickling routes
        server.close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    yield from _serve()


@pytest.fixture(scope="session")
def broken_robots_site() -> Iterator[Site]:
    """A second host whose robots.txt answers 503."""
    yield from _serve(robots_status=503)


@pytest.fixture
def crawl_config():
    """`crawl_config(seed_urls, **overrides)`: the test limits plus the given seeds and overrides."""

    def make(seed_urls: list[str], **overrides) -> CrawlConfig:
        return CrawlConfig(seed_urls=seed_urls, **{**TEST_LIMITS, **overrides})

    return make


@pytest.fixture
def connect_log(monkeypatch) -> list[tuple]:
    """Every address a socket connects to during the test (httpcore uses socket.create_connection)."""
    attempts: list[tuple] = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return attempts


@pytest.fixture
def fake_dns(monkeypatch):
    """`fake_dns(name, answers)`: lookups of `name` answer answers[0], answers[1] ... (the last one
    repeats); returns the list of answers given so far. Other names resolve normally."""
    real = socket.getaddrinfo
    names: dict[str, tuple[list[str], list[str]]] = {}

    def lookup(host, port, *args, **kwargs):
        if host not in names:
            return real(host, port, *args, **kwargs)
        answers, asked = names[host]
        address = answers[min(len(asked), len(answers) - 1)]
        asked.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)

    def add(name: str, answers: list[str]) -> list[str]:
        names[name] = (answers, [])
        return names[name][1]

    return add
