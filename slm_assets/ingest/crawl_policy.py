"""What the crawler visits: URL normalisation, allowed hosts, links of a page, sitemap entries."""

import logging
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from slm_assets.ingest.config import CrawlConfig

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
# <loc> entries are all a sitemap is read for; a regex cannot expand XML entities (no billion laughs).
SITEMAP_LOC = re.compile(rb"<(?:\w+:)?loc>\s*(.*?)\s*</(?:\w+:)?loc>", re.IGNORECASE | re.DOTALL)
XML_ESCAPES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'"}
MAX_URL_LENGTH = 2048


def normalize_url(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL in one spelling (lower-case scheme and host, no default port, no
    fragment, "/" for an empty path), or None when `url` is not one."""
    try:
        absolute = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(absolute)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname or len(absolute) > MAX_URL_LENGTH:
            return None
        host = ascii_host(parts.hostname)
        if ":" in host:
            host = f"[{host}]"
        port = parts.port
    except ValueError:  # a bad port or a malformed IPv6 literal
        return None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:  # credentials in a crawled link are dropped, never sent
        log.debug("dropping credentials from %s", host)
    path = parts.path or "/"
    if "/." in path:  # "a/../b" and "./b": resolve dot segments (RFC 3986 5.2.4) the way urljoin does
        path = urlsplit(urljoin(f"{scheme}://h/", path)).path
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in DEFAULT_PORTS:
            return None
        return ascii_host(parts.hostname or "") or None
    except ValueError:
        return None


def ascii_host(host: str) -> str:
    """Lower case, no trailing dot, international names in their IDNA (xn--) form, as redirects send them."""
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host  # not a valid name; the fetch fails on it with a clear error


def allowed_hosts(config: CrawlConfig) -> frozenset[str]:
    """The configured hosts, or the seeds' hosts when none are configured."""
    hosts = config.allowed_hosts or [host_of(u) or "" for u in config.seed_urls]
    return frozenset(ascii_host(h) for h in hosts if h)


def extract_links(html_text: str, base_url: str) -> list[str]:
    """Normalised http(s) links of a page, in page order, without duplicates; `nofollow` honoured."""
    import lxml.html
    from lxml import etree

    try:
        tree = lxml.html.document_fromstring(html_text)
    except (etree.ParserError, ValueError) as exc:
        log.info("no links from %s: %s", base_url, exc)
        return []
    robots_meta = " ".join(tree.xpath("//meta[translate(@name,'ROBTS','robts')='robots']/@content")).lower()
    if "nofollow" in robots_meta or "none" in robots_meta:
        return []
    base = base_url
    for href in tree.xpath("//base/@href")[:1]:
        base = normalize_url(str(href), base=base_url) or base_url
    links: list[str] = []
    seen: set[str] = set()
    for anchor in tree.xpath("//a[@href]"):
        if "nofollow" in (anchor.get("rel") or "").lower():
            continue
        link = normalize_url(anchor.get("href"), base=base)
        if link and link not in seen:
            seen.add(link)
            links.append(link)
    return links


def sitemap_entries(data: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) listed in a sitemap or sitemap index."""
    locs = []
    for match in SITEMAP_LOC.finditer(data):
        loc = match.group(1).decode("utf-8", errors="replace")
        for escaped, plain in XML_ESCAPES.items():
            loc = loc.replace(escaped, plain)
        url = normalize_url(loc)
        if url:
            locs.append(url)
    if re.search(rb"<(?:\w+:)?sitemapindex", data[:4096]):
        return [], locs
    return locs, []
