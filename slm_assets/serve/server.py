"""Running the app with uvicorn: in the foreground (the CLI) or in a background thread (tests, benchmarks)."""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def _config(app, host: str, port: int, **kwargs):
    import uvicorn

    # access_log off: the gateway middleware writes one structured line per request instead.
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                          timeout_graceful_shutdown=5, **kwargs)


def run_server(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    uvicorn.Server(_config(app, host, port)).run()


@contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` from a thread on a free port (port=0); yields the base URL and stops the server after."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound_port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="slm-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {host}:{bound_port} within {start_timeout} s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if thread.is_alive():
            log.warning("uvicorn thread still running after shutdown request")
