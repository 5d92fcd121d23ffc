"""A real HTTP server on 127.0.0.1 at a free port, answering from a daemon thread, for any request handler."""

import functools
import http.server
import json
import threading
from pathlib import Path


class LocalServer:
    """`ThreadingHTTPServer` on 127.0.0.1; serving from `start()` (or `with`), shut down and closed by `close()`."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], name: str = "local-http"):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LocalServer":
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """No access log on stderr; `send_json` answers a JSON body."""

    def log_message(self, *args):
        pass

    def send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def directory_server(root: Path) -> LocalServer:
    """Static files under `root`, as `python -m http.server` serves them."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    return LocalServer(handler, name="directory")


def page_server(pages: dict[str, bytes]) -> LocalServer:
    """GET /<path> answers `pages[path]` as HTML (read at each request, so a test may change a page); any other
    path, /robots.txt included, is 404."""

    class Handler(QuietHandler):
        def do_GET(self):
            body = pages.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return LocalServer(Handler, name="pages")


def webhook_server(received: list[dict], answer: dict) -> LocalServer:
    """Records each POSTed JSON body as {"content_type", "body"} in `received` and answers with the status in
    `answer["status"]` (read at each request) and an empty body."""

    class Handler(QuietHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(answer["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

    return LocalServer(Handler, name="webhook")
