"""robots.txt per host, read once per crawl, following RFC 9309 for the unhappy cases.

- 2xx: the rules apply (urllib.robotparser; first matching rule wins, as it implements it).
- 4xx, a redirect off the allowed hosts, too many redirects: "unavailable", everything allowed.
- 5xx, timeouts, refused connections: "unreachable", everything on the host disallowed, since a
  server that cannot serve robots.txt may be overloaded or may be hiding its rules.
"""

import logging
import threading
import urllib.robotparser
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from slm_assets.ingest.http_fetch import Fetcher, FetchFailure

log = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 500_000  # what Google reads of a robots.txt; the rest is ignored
ROBOTS_TYPES = frozenset({"text/plain", "text/html", "application/octet-stream", ""})
MAX_CRAWL_DELAY_S = 30.0  # a Crawl-delay above this would stall a crawl; it is capped, not obeyed


@dataclass
class HostRobots:
    parser: urllib.robotparser.RobotFileParser | None  # None: every path allowed
    unreachable_reason: str | None = None  # set: every path disallowed, for this reason
    sitemaps: list[str] = field(default_factory=list)


class RobotsRules:
    """robots.txt of each host, fetched through the guarded fetcher on first use (thread-safe)."""

    def __init__(self, fetcher: Fetcher, user_agent: str, enabled: bool = True) -> None:
        self._fetcher = fetcher
        self._agent = user_agent
        self._enabled = enabled
        self._hosts: dict[str, HostRobots] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def check(self, url: str) -> None:
        """Raise FetchFailure(stage="robots") if robots.txt forbids `url` for our user agent."""
        if not self._enabled:
            return
        robots = self.for_url(url)
        if robots.unreachable_reason:
            raise FetchFailure("robots", f"robots.txt unreachable ({robots.unreachable_reason}): whole host disallowed")
        if robots.parser is not None and not robots.parser.can_fetch(self._agent, url):
            raise FetchFailure("robots", f"disallowed by robots.txt for user agent {self._agent.split('/')[0]!r}")

    def crawl_delay(self, url: str) -> float | None:
        robots = self.for_url(url) if self._enabled else None
        if robots is None or robots.parser is None:
            return None
        delay = robots.parser.crawl_delay(self._agent)
        return min(float(delay), MAX_CRAWL_DELAY_S) if delay is not None else None

    def for_url(self, url: str) -> HostRobots:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per origin even when two workers ask at once
            if origin not in self._hosts:
                self._hosts[origin] = self._load(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")))
            return self._hosts[origin]

    def _load(self, robots_url: str) -> HostRobots:
        try:
            response = self._fetcher.get(robots_url, accept=ROBOTS_TYPES, max_bytes=ROBOTS_MAX_BYTES)
        except FetchFailure as exc:
            if exc.reason.startswith("HTTP 4") or exc.stage == "policy" or "too many redirects" in exc.reason:
                log.info("%s unavailable (%s): all allowed", robots_url, exc.reason)
                return HostRobots(parser=None)
            log.warning("%s unreachable (%s): host disallowed", robots_url, exc.reason)
            return HostRobots(parser=None, unreachable_reason=f"{robots_url}: {exc.reason}")
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(response.data.decode("utf-8", errors="replace").splitlines())
        return HostRobots(parser=parser, sitemaps=list(parser.site_maps() or []))
