"""The FastAPI app: OpenAI- and Ollama-compatible generation, health, metrics and the playground.

Every path needs an API key (see `middleware.py`) except /healthz, /readyz and the playground's own
static files (/, /static/*): the page asks for a key and sends it with each request. /metrics is
behind the key too (Prometheus sends it with `authorization: {credentials: <key>}` in its scrape
config); that keeps model names, versions and traffic figures private.
"""

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from slm_assets.serve.api_error import ApiError
from slm_assets.serve.auth import ApiKeys, RateLimiter, openai_error
from slm_assets.serve.backends import Backend
from slm_assets.serve.metrics import ServeMetrics
from slm_assets.serve.middleware import GatewayMiddleware
from slm_assets.serve.model_entry import ModelEntry
from slm_assets.serve.ollama_api import router as ollama_router
from slm_assets.serve.openai_api import router as openai_router
from slm_assets.serve.runner import Runner
from slm_assets.serve.settings import ServeSettings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/"})
OPEN_PREFIXES = ("/static/",)


def _error_body(path: str, status: int, message: str, code: str | None = None, type_: str | None = None,
                param: str | None = None) -> dict:
    if path.startswith("/api/"):
        return {"error": message}  # Ollama's error shape
    default_type = "invalid_request_error" if status < 500 else "server_error"
    return openai_error(message, type_ or default_type, code, param)


def route_paths(routes, prefix: str = "") -> list[str]:
    """Every path template the app serves (FastAPI nests include_router() entries; Mounts end in /*)."""
    paths = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            paths += route_paths(included.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "path"):
            paths.append(prefix + route.path + ("" if getattr(route, "methods", None) else "/*"))
    return paths


def model_entries(models: dict[str, Backend], settings: ServeSettings):
    """(name -> ModelEntry, group -> Runner): backends in the same `exclusive_group` share one worker queue."""
    groups = {name: getattr(backend, "exclusive_group", None) or f"model:{name}" for name, backend in models.items()}
    workers: dict[str, int] = {}  # a group of batching backends gets one worker per slot of its largest
    for name, backend in models.items():
        workers[groups[name]] = max(workers.get(groups[name], 1), getattr(backend, "slots", 1))
    runners = {group: Runner(group, max_waiting=settings.max_queue, workers=n) for group, n in workers.items()}
    entries = {name: ModelEntry(name=name, backend=backend, runner=runners[groups[name]])
               for name, backend in models.items()}
    return entries, runners


def add_error_handlers(app: FastAPI) -> None:
    """Every error as the OpenAI-style body: API errors, invalid requests, HTTP errors."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(_error_body(request.url.path, exc.status, exc.message, exc.code, exc.type, exc.param),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        message = f"Invalid request: {where + ': ' if where else ''}{first.get('msg', 'malformed body')}"
        return JSONResponse(_error_body(request.url.path, 422, message, "invalid_request", param=where),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(_error_body(request.url.path, exc.status_code, str(exc.detail)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))


def add_open_routes(app: FastAPI, entries: dict, runners: dict, metrics: ServeMetrics) -> None:
    """The routes without an API key: health, readiness, Prometheus metrics and the playground page."""

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        ready = app.state.ready and bool(entries) and all(r.alive for r in runners.values())
        body = {"status": "ready" if ready else "not ready", "models": list(entries)}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics():
        content, content_type = metrics.render()
        return Response(content, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def playground():
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})


def create_app(models: dict[str, Backend], settings: ServeSettings | None = None,
               api_keys: ApiKeys | None = None, retriever=None) -> FastAPI:
    """An app serving `models` under their dict keys (e.g. {"base": ..., "slm-ev_charging": ...}).

    API keys: `api_keys` when given, else SLM_API_KEYS and/or `settings.api_keys_file`. Refuses to
    build an app without any key. Backends in the same `exclusive_group` share one worker queue.
    """
    settings = settings or ServeSettings()
    keys = api_keys if api_keys is not None else ApiKeys.from_sources(keys_file=settings.api_keys_file)
    if len(keys) == 0:
        raise ValueError("no API keys configured: set SLM_API_KEYS (comma-separated) or an API keys file")
    entries, runners = model_entries(models, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.warmup:
            # One token per model on its worker thread: the first generation on a new thread pays
            # one-off costs (llama.cpp's OpenMP set-up, ~0.5 s here) that a client should not.
            for entry in entries.values():
                await entry.runner.run(lambda backend=entry.backend: backend.complete("Hello", 1, 0.0))
        app.state.ready = True
        yield
        app.state.ready = False
        for runner in runners.values():
            runner.stop(timeout=5)

    app = FastAPI(title="slm_assets serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    metrics = ServeMetrics.create()
    app.state.settings, app.state.models, app.state.metrics = settings, entries, metrics
    app.state.retriever = retriever  # slm_assets.serve.open_book.Retriever: answers cite the domain's chunks
    app.state.ready = False
    for entry in entries.values():
        metrics.model_info.labels(entry.name, entry.version, entry.kind).set(1)
        metrics.watch_model(entry.name, entry.version, entry.runner, entry.backend)
    add_error_handlers(app)
    add_open_routes(app, entries, runners, metrics)
    app.include_router(openai_router)
    app.include_router(ollama_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        GatewayMiddleware, keys=keys,
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst), metrics=metrics,
        max_body_bytes=settings.max_body_bytes, open_paths=OPEN_PATHS, open_prefixes=OPEN_PREFIXES,
        route_templates=route_paths(app.routes))
    log.info("serving %s with %d API key(s)", ", ".join(f"{n} ({e.kind} v{e.version or '-'})"
                                                        for n, e in entries.items()) or "no models", len(keys))
    return app
