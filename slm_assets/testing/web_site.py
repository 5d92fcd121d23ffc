"""A real threaded HTTP server on 127.0.0.1 serving good pages and hostile routes for the crawler tests."""

import gzip
import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from slm_assets.testing import pdfs
from slm_assets.testing.local_http import LocalServer

GOOD_TEXT = (
    "Level 2 chargers use alternating current and add about forty kilometres of range per hour. "
    "They suit homes, workplaces and car parks where cars stay for several hours."
)
GOOD2_TEXT = (
    "Direct current fast chargers bypass the car's onboard charger and feed the battery directly, "
    "so a stop of twenty minutes can add several hundred kilometres of range."
)
LATIN1_TEXT = "Électricité et recharge: la borne délivre une puissance élevée à la voiture garée."
TRICKLE_SECONDS = 8.0


def page(title: str, body: str, extra: str = "") -> bytes:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><nav><a href='/'>Home</a></nav><main><h1>{title}</h1><p>{body}</p>{extra}</main></body></html>"
    ).encode()


@dataclass
class Site:
    """The running server: base URL, a log of requested paths, and a stop flag for slow routes.

    While `hold` is set, /held.html sets `holding` and answers only once `release` is set: a crawl killed
    while it waits is killed at a known point inside its step."""

    host: str
    port: int
    requests: list[tuple[str, dict]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def requested(self, path: str) -> list[dict]:
        with self.lock:
            return [headers for p, headers in self.requests if p == path]


Route = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    site: Site
    routes: dict[str, Route]

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # keep pytest output clean

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        with self.site.lock:
            self.site.requests.append((path, dict(self.headers)))
        route = self.routes.get(path)
        try:
            if route is None:
                self.send_error(404, "Not Found")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler hung up, as it should on hostile routes

    def reply(self, body: bytes, content_type: str | None = "text/html; charset=utf-8", status: int = 200,
              headers: dict | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str | None, status: int = 302) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _stream_forever(h: Handler, chunk: bytes, total: int) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()  # no Content-Length: the cap must hold while streaming
    sent = 0
    while sent < total and not h.site.stop.is_set():
        h.wfile.write(chunk)
        sent += len(chunk)


def _trickle(h: Handler, headers_first: bool) -> None:
    if not headers_first:
        h.site.stop.wait(TRICKLE_SECONDS)  # never answers within the deadline
        return
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"<html><body><p>")
    h.wfile.flush()
    deadline = time.monotonic() + TRICKLE_SECONDS
    while time.monotonic() < deadline and not h.site.stop.is_set():
        h.wfile.write(b"x")  # one byte well inside every read timeout, forever
        h.wfile.flush()
        h.site.stop.wait(0.1)


def _declared_huge(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "50000000")  # refused on the header, before any body is read
    h.end_headers()
    h.wfile.write(b"<html><body><p>tiny</p>")


def _conditional(h: Handler) -> None:
    if h.headers.get("If-None-Match") == '"v1"':
        h.send_response(304)
        h.send_header("ETag", '"v1"')
        h.end_headers()
        return
    h.reply(page("Versioned", GOOD_TEXT), headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Jun 2025 10:00:00 GMT"})


def _gzip_bomb(h: Handler) -> None:
    body = gzip.compress(b"<html><body><p>" + b" " * 20_000_000 + b"</p></body></html>", compresslevel=9)
    h.reply(body, headers={"Content-Encoding": "gzip"})


def _held(h: Handler) -> None:
    if h.site.hold:
        h.site.holding.set()
        h.site.release.wait(600)
    h.reply(page("Held page", GOOD2_TEXT + " It was held."))


def build_routes(site: Site) -> dict[str, Route]:
    pdf_files = {
        "/doc.pdf": pdfs.normal_pdf(), "/two-column.pdf": pdfs.two_column_pdf(),
        "/table.pdf": pdfs.table_pdf(), "/corrupt.pdf": pdfs.corrupt_pdf(),
        "/encrypted.pdf": pdfs.encrypted_pdf(), "/empty.pdf": b"", "/scanned.pdf": pdfs.image_only_pdf(),
        "/garbage.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 20 + b"\n%%EOF\n",
    }
    duplicate = page("Duplicate", GOOD2_TEXT)
    routes: dict[str, Route] = {
        "/robots.txt": lambda h: h.reply(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/sitemap.xml": lambda h: h.reply(
            f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            f"<url><loc>{site.url('/good2.html')}</loc></url><url><loc>http://elsewhere.invalid/x</loc></url>"
            f"</urlset>".encode(), "application/xml"),
        "/good.html": lambda h: h.reply(page("Level 2 charging", GOOD_TEXT)),
        "/good2.html": lambda h: h.reply(page("DC fast charging", GOOD2_TEXT)),
        "/index.html": lambda h: h.reply(page("Index", GOOD_TEXT + " Start here.", (
            "<p><a href='/good2.html#top'>fast</a> <a href='deep/1.html'>deep</a> <a href='mailto:a@b.c'>mail</a>"
            " <a href='javascript:alert(1)'>js</a> <a href='http://elsewhere.invalid/'>off</a>"
            " <a href='/private/secret.html'>secret</a> <a rel='nofollow' href='/nofollow.html'>nf</a></p>"))),
        "/deep/1.html": lambda h: h.reply(page("Depth one", GOOD_TEXT + " One.", "<a href='/deep/2.html'>2</a>")),
        "/deep/2.html": lambda h: h.reply(page("Depth two", GOOD_TEXT + " Two.", "<a href='/deep/3.html'>3</a>")),
        "/deep/3.html": lambda h: h.reply(page("Depth three", GOOD_TEXT + " Three.")),
        "/huge.html": lambda h: _stream_forever(h, b"<p>" + b"a" * 65_533, 50_000_000),
        "/huge-declared.html": _declared_huge,
        "/gzip-bomb.html": _gzip_bomb,
        "/latin1.html": lambda h: h.reply(page("Recharge", LATIN1_TEXT).replace(b"utf-8", b"iso-8859-1")
                                          .decode().encode("iso-8859-1"), "text/html; charset=ISO-8859-1"),
        "/cp1252-meta.html": lambda h: h.reply(page("Recharge", LATIN1_TEXT).replace(b"utf-8", b"windows-1252")
                                               .decode().encode("cp1252"), "text/html"),
        "/error": lambda h: h.send_error(500, "Internal Server Error"),
        "/stall-body.html": lambda h: _trickle(h, headers_first=True),
        "/stall-headers.html": lambda h: _trickle(h, headers_first=False),
        "/loop/a": lambda h: h.redirect("/loop/b"),
        "/loop/b": lambda h: h.redirect("/loop/a"),
        "/redirect-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        "/redirect-metadata-v6": lambda h: h.redirect("http://[fd00:ec2::254]/latest/meta-data/"),
        "/redirect-metadata-name": lambda h: h.redirect("http://metadata.google.internal/computeMetadata/v1/"),
        "/redirect-private": lambda h: h.redirect("http://10.0.0.1/admin"),
        "/redirect-offhost": lambda h: h.redirect(site.url("/good.html", host="localhost")),
        "/redirect-file": lambda h: h.redirect("file:///etc/passwd"),
        "/redirect-no-location": lambda h: h.redirect(None),
        "/redirect-robots": lambda h: h.redirect("/private/secret.html", 301),
        "/private/secret.html": lambda h: h.reply(page("Secret", GOOD_TEXT + " Secret.")),
        "/binary.html": lambda h: h.reply(pdfs.png_bytes() + b"\x00" * 100),
        "/nul.html": lambda h: h.reply(b"<html>" + bytes(range(256)) * 4),
        "/dup-a.html": lambda h: h.reply(duplicate),
        "/dup-b.html": lambda h: h.reply(duplicate),
        "/image.png": lambda h: h.reply(pdfs.png_bytes(), "image/png"),
        "/no-type": lambda h: h.reply(b"just some bytes \x01\x02", None),
        "/etag.html": _conditional,
        "/held.html": _held,
        "/slow.html": lambda h: (h.site.stop.wait(0.5), h.reply(page("Slow", GOOD_TEXT + " Slow."))),
        "/slow2.html": lambda h: (h.site.stop.wait(0.5), h.reply(page("Slow too", GOOD2_TEXT + " Slow."))),
        "/deep-nesting.html": lambda h: h.reply(b"<html><body>" + b"<div>" * 5000 + b"<p>deep</p>" + b"</div>" * 5000),
        "/scripts-only.html": lambda h: h.reply(
            b"<html><head><script>var a = 1;</script></head><body><nav><a href='/'>Home</a></nav>"
            b"<script>document.write('hi')</script></body></html>"),
    }
    for path, data in pdf_files.items():
        routes[path] = lambda h, data=data: h.reply(data, "application/pdf")
    for n in range(1, 8):
        routes[f"/chain/{n}"] = lambda h, n=n: h.redirect(f"/chain/{n - 1}")
    routes["/chain/0"] = lambda h: h.reply(page("End of chain", GOOD_TEXT + " Chain."))
    return routes


def start_site(robots_status: int | None = None) -> tuple[Site, LocalServer]:
    """Start a server on a free port; `robots_status` overrides /robots.txt with that error status. Stop it with
    `site.stop.set()` (ends the trickling routes), then `server.close()`."""
    server = LocalServer(Handler)
    site = Site(host="127.0.0.1", port=server.port)
    routes = build_routes(site)
    if robots_status is not None:
        routes["/robots.txt"] = lambda h: h.send_error(robots_status)
    server.httpd.RequestHandlerClass = type("SiteHandler", (Handler,), {"site": site, "routes": routes})
    server.thread.name = f"site-{site.port}"
    return site, server.start()
