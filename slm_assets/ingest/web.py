"""Fetching a domain's URLs over HTTP.

Walking-skeleton version: seed URLs only, with timeouts and a size cap. The crawler of issue #3
(robots.txt, link following, SSRF guards, conditional requests) replaces `fetch_pages`.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from slm_assets.ingest.config import CrawlConfig
from slm_assets.ingest.documents import IngestFailure

log = logging.getLogger(__name__)


@dataclass
class FetchedPage:
    url: str
    data: bytes
    status: int
    content_type: str | None
    charset: str | None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class NotModified:
    """The server answered 304: the stored document is still current."""

    url: str


def fetch_pages(
    config: CrawlConfig, known_validators: dict[str, dict] | None = None
) -> Iterator[FetchedPage | NotModified | IngestFailure]:
    """Fetch each seed URL once. `known_validators` maps url -> {etag, last_modified} of stored copies."""
    known_validators = known_validators or {}
    timeout = httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s)
    with httpx.Client(
        timeout=timeout, follow_redirects=True, max_redirects=config.max_redirects,
        headers={"User-Agent": config.user_agent},
    ) as client:
        for url in config.seed_urls[: config.max_pages]:
            headers = {}
            validators = known_validators.get(url, {})
            if validators.get("etag"):
                headers["If-None-Match"] = validators["etag"]
            if validators.get("last_modified"):
                headers["If-Modified-Since"] = validators["last_modified"]
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.status_code == 304:
                        yield NotModified(url)
                        continue
                    if response.status_code >= 400:
                        yield IngestFailure(url, "fetch", f"HTTP {response.status_code}")
                        continue
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > config.max_bytes:
                            raise ValueError(f"response larger than max_bytes={config.max_bytes}")
                    content_type = response.headers.get("content-type", "")
                    yield FetchedPage(
                        url=url, data=bytes(body), status=response.status_code,
                        content_type=content_type.split(";")[0].strip() or None,
                        charset=response.charset_encoding,
                        etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
                    )
            except (httpx.HTTPError, ValueError) as exc:
                yield IngestFailure(url, "fetch", f"{type(exc).__name__}: {exc}")
