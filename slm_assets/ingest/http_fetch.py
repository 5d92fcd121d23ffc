"""One guarded GET: redirects followed by hand, every hop re-checked, the body capped while streaming.

Failures raise `FetchFailure(stage, reason)`; the crawler turns them into `IngestFailure` rows.
"""

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from slm_assets.ingest.address_policy import AddressPolicy, AddressRefused, HostUnresolvable
from slm_assets.ingest.config import CrawlConfig
from slm_assets.ingest.crawl_policy import host_of, normalize_url
from slm_assets.ingest.guarded_transport import GuardedTransport, deadline

log = logging.getLogger(__name__)

DOCUMENT_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "application/pdf", "text/plain", "text/markdown", "text/x-rst"}
)
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Magic numbers of formats that are never text; a "text/html" body starting so is rejected.
BINARY_MAGIC = {
    b"\x89PNG": "PNG image", b"\xff\xd8\xff": "JPEG image", b"GIF8": "GIF image", b"PK\x03\x04": "ZIP archive",
    b"\x1f\x8b": "gzip data", b"%PDF-": "PDF", b"\x7fELF": "ELF executable", b"RIFF": "RIFF media",
    b"OggS": "Ogg media", b"\x00\x00\x01\x00": "icon", b"7z\xbc\xaf": "7z archive",
    b"Rar!": "RAR archive", b"\xd0\xcf\x11\xe0": "OLE document", b"wOFF": "web font", b"\x00asm": "WebAssembly",
}


class FetchFailure(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


@dataclass
class Response:
    url: str  # after redirects
    status: int
    content_type: str
    charset: str | None
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    redirects: list[str] = field(default_factory=list)
    not_modified: bool = False


@dataclass
class Fetcher:
    """Shared by the crawl's worker threads; httpx's pool is thread-safe."""

    config: CrawlConfig
    allowed_hosts: frozenset[str]
    pace: Callable[[str], None] = lambda host: None  # waits for the host's next polite slot
    policy: AddressPolicy = field(init=False)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.policy = AddressPolicy.from_config(self.config)
        limits = httpx.Limits(max_connections=max(4, 2 * self.config.concurrency), max_keepalive_connections=8)
        # the transport's deadline clamp also bounds connect and read; these are the per-step limits
        timeout = httpx.Timeout(self.config.read_timeout_s, connect=self.config.connect_timeout_s)
        self.client = httpx.Client(
            transport=GuardedTransport(self.policy, limits), timeout=timeout, follow_redirects=False,
            trust_env=False, headers={"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        self.client.close()

    def check_url(self, url: str) -> str:
        """The host of `url` if it is http(s), on an allowed host and resolves to allowed addresses."""
        host = host_of(url)
        if host is None:
            raise FetchFailure("policy", f"not an http(s) URL: {url[:200]}")
        if host not in self.allowed_hosts:
            raise FetchFailure("policy", f"host {host} is not in the allowed hosts {sorted(self.allowed_hosts)}")
        try:
            port = httpx.URL(url).port or (443 if url.lower().startswith("https:") else 80)
        except httpx.InvalidURL as exc:
            raise FetchFailure("policy", f"invalid URL {url[:200]!r}: {exc}") from None
        try:
            # refuses private and metadata targets before any socket is opened; the transport repeats
            # the check at connect time on the addresses it actually uses
            self.policy.resolve(host, port)
        except AddressRefused as exc:
            raise FetchFailure("policy", str(exc)) from None
        except HostUnresolvable as exc:
            raise FetchFailure("fetch", str(exc)) from None
        return host

    def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        accept: frozenset[str] = DOCUMENT_TYPES,
        max_bytes: int | None = None,
        before_hop: Callable[[str], None] | None = None,
    ) -> Response:
        """GET `url`, following up to max_redirects redirects; `before_hop(url)` may veto a hop (robots)."""
        chain = [url]
        for _hop in range(self.config.max_redirects + 1):
            current = chain[-1]
            try:
                host = self.check_url(current)
                if before_hop is not None:
                    before_hop(current)
                self.pace(host)
                response = self._get_once(current, headers or {}, accept, max_bytes or self.config.max_bytes)
            except FetchFailure as exc:
                if len(chain) > 1:  # say that a redirect led here: the source row names the first URL
                    raise FetchFailure(exc.stage, f"redirected to {current}: {exc.reason}") from None
                raise
            if not isinstance(response, str):
                response.redirects = chain[:-1]
                return response
            target = normalize_url(response, base=current)
            if target is None:
                raise FetchFailure("policy", f"redirect to a non-http(s) URL {response[:200]!r} from {current}")
            if target in chain:
                raise FetchFailure("fetch", "redirect loop: " + " -> ".join(chain + [target]))
            chain.append(target)
        raise FetchFailure(
            "fetch", f"too many redirects (more than {self.config.max_redirects}): " + " -> ".join(chain)
        )

    def _get_once(self, url: str, headers: dict, accept: frozenset[str], max_bytes: int) -> "Response | str":
        """The response, or the Location of a redirect."""
        with deadline(self.config.total_timeout_s) as until:
            try:
                with self.client.stream("GET", url, headers=headers) as response:
                    return self._read(url, response, headers, accept, max_bytes)
            except AddressRefused as exc:  # the connect-time check (a DNS answer that changed)
                raise FetchFailure("policy", str(exc)) from None
            except httpx.TimeoutException as exc:
                if time.monotonic() >= until - 0.05:  # the transport clamps socket waits to the deadline
                    raise FetchFailure(
                        "fetch",
                        f"total deadline of {self.config.total_timeout_s:g} s exceeded (stalled or trickling response)",
                    ) from None
                raise FetchFailure("fetch", f"{type(exc).__name__}: timed out ({exc or 'no detail'})") from None
            except (httpx.HTTPError, httpx.InvalidURL, zlib.error) as exc:
                raise FetchFailure("fetch", f"{type(exc).__name__}: {exc}") from None

    def _read(self, url: str, response: httpx.Response, sent: dict, accept: frozenset[str], max_bytes: int):
        status = response.status_code
        if status in REDIRECT_CODES:
            location = response.headers.get("location")
            if not location:
                raise FetchFailure("fetch", f"HTTP {status} redirect without a Location header")
            return location
        if status == 304:
            if not ({"If-None-Match", "If-Modified-Since"} & set(sent)):
                raise FetchFailure("fetch", "HTTP 304 to a request that was not conditional")
            return Response(url, status, "", None, b"", not_modified=True)
        if status >= 400:
            raise FetchFailure("fetch", f"HTTP {status} {response.reason_phrase}".strip())
        if status != 200:
            raise FetchFailure("fetch", f"unexpected HTTP status {status} {response.reason_phrase}".strip())
        declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if declared and declared not in accept:
            raise FetchFailure("policy", f"unsupported content type {declared}")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise FetchFailure("fetch", f"Content-Length {int(length):,} bytes is over the max_bytes cap of {max_bytes:,}")
        data = _read_capped(response, max_bytes)
        content_type = declared or _guess_type(data, url)
        if content_type not in accept:
            raise FetchFailure("policy", f"unsupported content type {content_type or 'unknown'} (no Content-Type header)")
        if content_type.startswith("text/") or content_type == "application/xhtml+xml":
            kind = sniff_binary(data)
            if kind:
                raise FetchFailure("policy", f"binary content ({kind}) served as {content_type}")
        return Response(
            url=url, status=status, content_type=content_type, charset=response.charset_encoding, data=data,
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
        )


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refusing more than `max_bytes` while streaming.

    Decompression is done here rather than by httpx so that the cap bounds the decompressed size
    too (a 10 KB gzip bomb must not become gigabytes in memory).
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    else:
        raise FetchFailure("fetch", f"unsupported Content-Encoding {encoding}")
    body = bytearray()
    too_big = FetchFailure("fetch", f"response larger than the max_bytes cap of {max_bytes:,} bytes")
    for raw in response.iter_raw():
        if decoder is None:
            body += raw
        else:
            body += decoder.decompress(raw, max_bytes + 1 - len(body))
            if decoder.unconsumed_tail:
                raise too_big
        if len(body) > max_bytes:
            raise too_big
    if decoder is not None:
        body += decoder.flush()
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


def sniff_binary(data: bytes) -> str | None:
    """What binary format `data` is, or None when it may be text."""
    for magic, kind in BINARY_MAGIC.items():
        if data.startswith(magic):
            return kind
    head = data[:4096]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 has NULs; it has a BOM
        return "NUL bytes"
    return None


def _guess_type(data: bytes, url: str) -> str:
    """A content type for a response that declared none."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")):
        return "text/html"
    path = httpx.URL(url).path.lower()
    for suffix, content_type in ((".md", "text/markdown"), (".rst", "text/x-rst"), (".txt", "text/plain")):
        if path.endswith(suffix):
            return content_type
    return ""
