"""Crawling a domain's URLs: seeds, links to a depth, optional sitemaps; polite and guarded.

The pieces: `crawl_policy` (which URLs), `robots` (robots.txt), `http_fetch` (one guarded GET with
manual redirects, size cap, content checks), `guarded_transport` and `address_policy` (where a
socket may connect, and the per-request deadline). This module schedules: one request in flight per
host, at most `concurrency` hosts at once, `delay_s` (or the host's Crawl-delay) between requests
to a host, at most `max_pages` pages. Every failure is yielded as an `IngestFailure`; none ends
the crawl of the other pages.
"""

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlsplit

from slm_assets.ingest.config import CrawlConfig
from slm_assets.ingest.crawl_policy import (
    allowed_hosts,
    extract_links,
    host_of,
    normalize_url,
    sitemap_entries,
)
from slm_assets.ingest.documents import IngestFailure, ParseError, exception_failure
from slm_assets.ingest.html import decode_html
from slm_assets.ingest.http_fetch import Fetcher, FetchFailure
from slm_assets.ingest.robots import RobotsRules

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SITEMAP_TYPES = frozenset({"application/xml", "text/xml", "text/plain", ""})
MAX_CHILD_SITEMAPS = 50


@dataclass
class FetchedPage:
    url: str  # as requested (normalised); the key of `known_validators`
    data: bytes
    status: int
    content_type: str | None
    charset: str | None  # from the Content-Type header; html.decode_html handles <meta> and detection
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None  # after redirects
    depth: int = 0  # link hops from a seed (sitemap entries count as seeds)


@dataclass
class NotModified:
    """The server answered 304: the stored document is still current."""

    url: str


Item = FetchedPage | NotModified | IngestFailure


def fetch_pages(config: CrawlConfig, known_validators: dict[str, dict] | None = None) -> Iterator[Item]:
    """Crawl from the seeds. `known_validators` maps url -> {etag, last_modified} of stored copies."""
    crawl = _Crawl(config, known_validators or {})
    try:
        yield from crawl.run()
    finally:
        crawl.fetcher.close()


class _HostPacer:
    """Spaces requests to one host by its delay; reserves slots so concurrent callers queue up."""

    def __init__(self, default_delay: float) -> None:
        self._default = default_delay
        self._delay: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def set_delay(self, host: str, seconds: float) -> None:
        with self._lock:
            self._delay[host] = max(self._default, seconds)

    def wait(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            self._next[host] = start + self._delay.get(host, self._default)
        if start > now:
            time.sleep(start - now)


class _Frontier:
    """URLs waiting per host; hands out one URL per idle host, round robin, up to max_pages."""

    def __init__(self, hosts: frozenset[str], max_pages: int) -> None:
        self.hosts = hosts
        self.max_pages = max_pages
        self.started = 0
        self.seen: set[str] = set()
        self._queues: OrderedDict[str, deque[tuple[str, int]]] = OrderedDict()
        self._busy: set[str] = set()

    def add(self, url: str, depth: int, only_allowed: bool = True) -> None:
        host = host_of(url) or ""
        if url in self.seen or (only_allowed and host not in self.hosts):
            return  # links off the allowed hosts are skipped quietly; seeds fail loudly in the fetcher
        self.seen.add(url)
        self._queues.setdefault(host, deque()).append((url, depth))

    def next_ready(self) -> tuple[str, int] | None:
        if self.started >= self.max_pages:
            return None
        for host in list(self._queues):
            queue = self._queues[host]
            if host in self._busy or not queue:
                continue
            self._queues.move_to_end(host)  # round robin between hosts
            self._busy.add(host)
            self.started += 1
            return queue.popleft()
        return None

    def release(self, url: str) -> None:
        self._busy.discard(host_of(url) or "")


class _Crawl:
    def __init__(self, config: CrawlConfig, known_validators: dict[str, dict]) -> None:
        self.config = config
        self.validators = known_validators
        self.pacer = _HostPacer(config.delay_s)
        self.fetcher = Fetcher(config, allowed_hosts(config), pace=self.pacer.wait)
        self.robots = RobotsRules(self.fetcher, config.user_agent, enabled=config.obey_robots)
        self.frontier = _Frontier(self.fetcher.allowed_hosts, config.max_pages)

    def run(self) -> Iterator[Item]:
        for seed in self.config.seed_urls:
            url = normalize_url(seed)
            if url is None:
                yield IngestFailure(seed, "policy", "not an absolute http(s) URL")
            else:
                self.frontier.add(url, 0, only_allowed=False)
        if self.config.use_sitemap:
            yield from self._sitemap_seeds()
        in_flight: dict[Future, str] = {}
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="crawl") as pool:
            try:
                while True:
                    while len(in_flight) < self.config.concurrency and (job := self.frontier.next_ready()):
                        in_flight[pool.submit(self._crawl_one, *job)] = job[0]
                    if not in_flight:
                        return
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        url = in_flight.pop(future)
                        self.frontier.release(url)
                        yield from self._outcome(url, future)
            finally:
                for future in in_flight:  # a consumer that stops early: do not start queued work
                    future.cancel()

    def _outcome(self, url: str, future: Future) -> Iterator[Item]:
        try:
            item, links, depth = future.result()
        except Exception as exc:  # a bug in handling one page must not end the crawl of the others
            yield exception_failure(url, "fetch", exc)
            return
        if isinstance(item, FetchedPage) and item.final_url:
            self.frontier.seen.add(item.final_url)
        yield item
        for link in links:
            self.frontier.add(link, depth + 1)

    def _before_hop(self, url: str) -> None:
        """robots.txt for every hop, including redirect targets; adopts the host's Crawl-delay."""
        self.robots.check(url)
        delay = self.robots.crawl_delay(url)
        if delay is not None:
            self.pacer.set_delay(host_of(url) or "", delay)

    def _crawl_one(self, url: str, depth: int) -> tuple[Item, list[str], int]:
        stored = self.validators.get(url, {})
        headers = {}
        if stored.get("etag"):
            headers["If-None-Match"] = stored["etag"]
        if stored.get("last_modified"):
            headers["If-Modified-Since"] = stored["last_modified"]
        try:
            response = self.fetcher.get(url, headers=headers, before_hop=self._before_hop)
        except FetchFailure as exc:
            log.info("%s: %s failure: %s", url, exc.stage, exc.reason)
            return IngestFailure(url, exc.stage, exc.reason), [], depth
        if response.not_modified:
            return NotModified(url), [], depth
        page = FetchedPage(
            url=url, data=response.data, status=response.status, content_type=response.content_type,
            charset=response.charset, etag=response.etag, last_modified=response.last_modified,
            final_url=response.url if response.url != url else None, depth=depth,
        )
        links: list[str] = []
        if depth < self.config.max_depth and response.content_type in HTML_TYPES:
            try:
                links = extract_links(decode_html(response.data, response.charset), response.url)
            except ParseError as exc:  # the page itself fails later, in parsing, with this reason
                log.info("no links from %s: %s", url, exc)
        return page, links, depth

    def _sitemap_seeds(self) -> Iterator[IngestFailure]:
        """Pages listed in each seed host's sitemaps (robots.txt `Sitemap:` lines and /sitemap.xml)."""
        seeds = [u for u in (normalize_url(s) for s in self.config.seed_urls) if u]
        for origin in dict.fromkeys("{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in seeds):
            default = f"{origin}/sitemap.xml"
            listed = self.robots.for_url(default).sitemaps if self.config.obey_robots else []
            pending = list(dict.fromkeys([*(normalize_url(s) or "" for s in listed), default]))
            children = 0
            while pending:
                sitemap = pending.pop(0)
                if not sitemap:
                    continue
                try:
                    response = self.fetcher.get(sitemap, accept=SITEMAP_TYPES, before_hop=self.robots.check)
                except FetchFailure as exc:
                    if sitemap == default and exc.reason.startswith("HTTP 404"):
                        log.info("no %s", sitemap)  # a site without a sitemap is not a failure
                    else:
                        yield IngestFailure(sitemap, exc.stage, f"sitemap: {exc.reason}")
                    continue
                pages, child_sitemaps = sitemap_entries(response.data)
                for page in pages:
                    self.frontier.add(page, 0)
                if children < MAX_CHILD_SITEMAPS:  # one level of sitemap index, bounded
                    pending += child_sitemaps[: MAX_CHILD_SITEMAPS - children]
                    children += len(child_sitemaps)
