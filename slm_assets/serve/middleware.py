"""The gate every HTTP request passes: API key, rate limit, body size; then metrics and an access log line.

A plain ASGI middleware around the whole app, so that any route added later (or a path that
matches no route) is behind the key too; only `open_paths` and `open_prefixes` are served without one.
"""

import json
import logging
import time
import uuid

from slm_assets.serve.auth import ApiKeys, RateLimiter, openai_error, presented_key, retry_after_header
from slm_assets.serve.metrics import ServeMetrics

access_log = logging.getLogger("slm_assets.serve.access")


class _TooLarge(Exception):
    pass


def _json_response(status: int, body: dict, headers: dict | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


class GatewayMiddleware:
    def __init__(self, app, *, keys: ApiKeys, limiter: RateLimiter, metrics: ServeMetrics, max_body_bytes: int,
                 open_paths: frozenset[str], open_prefixes: tuple[str, ...], route_templates: list[str]) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths
        self.open_prefixes = open_prefixes
        # Label values for requests answered before routing (401, 403, 429, 413): the template of
        # the route they were meant for. No route has path parameters, so exact paths suffice.
        self.exact = {t for t in route_templates if not t.endswith("/*")}
        self.prefixes = tuple(t[:-1] for t in route_templates if t.endswith("/*"))

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        info = {"model": "", "version": "", "key_id": None, "prompt_tokens": None, "completion_tokens": None}
        scope.setdefault("state", {})["slm"] = info
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            denial, receive = await self._gate(scope, receive, info)
            if denial is not None:
                await denial(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_progress.dec()
            self._record(scope, info, status[0], time.perf_counter() - started, request_id)

    async def _gate(self, scope, receive, info):
        """(an error response or None, the receive callable the app should use)."""
        from starlette.datastructures import Headers

        if self.is_open(scope["path"]):
            return None, receive
        headers = Headers(scope=scope)
        key = presented_key(headers)
        if key is None:
            return _json_response(401, openai_error(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                "authentication_error", "missing_api_key")), receive
        key_id = self.keys.identify(key)
        if key_id is None:
            return _json_response(403, openai_error("Invalid API key.", "authentication_error",
                                                    "invalid_api_key")), receive
        info["key_id"] = key_id
        wait = self.limiter.acquire(key_id)
        if wait > 0:
            return _json_response(429, openai_error(
                f"Rate limit exceeded for this key; retry in {wait:.1f} s.", "rate_limit_error",
                "rate_limit_exceeded"), {"retry-after": retry_after_header(wait)}), receive
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return self._too_large(), receive
        if scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                body = await self._read_body(receive)
            except _TooLarge:
                return self._too_large(), receive
            return None, _replay(body, receive)
        return None, receive

    def _too_large(self):
        return _json_response(413, openai_error(
            f"Request body larger than {self.max_body_bytes} bytes.", "invalid_request_error",
            "request_too_large"))

    async def _read_body(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _template(self, scope) -> str:
        path = scope["path"]
        if path in self.exact:
            return path
        for prefix in self.prefixes:
            if path.startswith(prefix):
                return prefix + "*"
        return "unmatched"

    def _record(self, scope, info, status: int, seconds: float, request_id: str) -> None:
        template = self._template(scope)
        self.metrics.observe_request(template, scope["method"], status, info["model"], info["version"], seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        line = {"event": "access", "request_id": request_id, "method": scope["method"], "path": scope["path"],
                "status": status, "latency_ms": round(seconds * 1000, 1), "key_id": info["key_id"],
                "model": info["model"] or None, "version": info["version"] or None,
                "prompt_tokens": info["prompt_tokens"], "completion_tokens": info["completion_tokens"]}
        if "stream" in info:
            line["stream"] = info["stream"]
        if "prompt" in info:  # only present when the app runs with log_prompts=True
            line["prompt"] = info["prompt"]
        access_log.info(json.dumps(line, ensure_ascii=False))


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the client to disconnect, as usual

    return replay
