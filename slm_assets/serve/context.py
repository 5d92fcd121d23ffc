"""What the route modules share: settings, the served models, request bookkeeping, API errors."""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from slm_assets.serve.backends import Backend, Delta, Generation
from slm_assets.serve.metrics import ServeMetrics
from slm_assets.serve.runner import QueueFull, Runner


class ServeSettings(BaseSettings):
    """Server limits. Every field can be set as `SLM_SERVE_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SLM_SERVE_", extra="ignore", frozen=True)

    api_keys_file: Path | None = Field(
        default=None, description="File with one API key per line, added to the comma-separated SLM_API_KEYS.")
    max_tokens_cap: int = Field(default=1024, ge=1, description="Requests asking for more tokens get 422.")
    default_max_tokens: int = Field(default=256, ge=1, description="Used when a request sets no limit.")
    default_temperature: float = Field(default=0.7, ge=0, description="Used when a request sets none.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413.")
    rate_limit_per_minute: float = Field(default=120, ge=0, description="Per API key; 0 disables the limit.")
    rate_limit_burst: int = Field(default=20, ge=1, description="Requests a key may send at once.")
    max_queue: int = Field(default=256, ge=1, description="Generations waiting per model group before 503.")
    log_prompts: bool = Field(default=False, description="Put prompts into the access log (off: privacy).")
    warmup: bool = Field(default=True, description="Generate one token per model at startup, before /readyz is 200.")


@dataclass
class ModelEntry:
    """One served model name: its backend, its registry version and the worker it queues on."""

    name: str
    backend: Backend
    runner: Runner
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return str(getattr(self.backend, "version", "") or "")

    @property
    def system_prompt(self) -> str | None:
        return getattr(self.backend, "system_prompt", None)

    @property
    def kind(self) -> str:
        return getattr(self.backend, "kind", type(self.backend).__name__)

    def with_system(self, messages: list[dict]) -> list[dict]:
        """The model's system prompt first, unless the request brings its own (as Ollama's SYSTEM does)."""
        if self.system_prompt and not any(m.get("role") == "system" for m in messages):
            return [{"role": "system", "content": self.system_prompt}, *messages]
        return messages


class ApiError(Exception):
    """An error answered as JSON: OpenAI's error shape on /v1, Ollama's `{"error": "..."}` on /api."""

    def __init__(self, status: int, message: str, code: str | None = None, type_: str = "invalid_request_error",
                 param: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type_, param
        self.headers = headers


def state(request) -> dict:
    """The per-request record the gateway middleware logs and counts (model, tokens, key id)."""
    return request.state.slm


def settings_of(request) -> ServeSettings:
    return request.app.state.settings


def metrics_of(request) -> ServeMetrics:
    return request.app.state.metrics


def lookup(request, model: str) -> ModelEntry:
    models: dict[str, ModelEntry] = request.app.state.models
    entry = models.get(model) or models.get(model.split(":", 1)[0])  # Ollama names carry a tag (name:latest)
    if entry is None:
        raise ApiError(404, f"The model '{model}' does not exist; served: {', '.join(models) or 'none'}.",
                       "model_not_found", param="model")
    record = state(request)
    record["model"], record["version"] = entry.name, entry.version
    return entry


def max_tokens_for(request, asked: int | None, param: str = "max_tokens") -> int:
    settings = settings_of(request)
    if asked is None or asked < 0:
        return min(settings.default_max_tokens, settings.max_tokens_cap)
    if asked == 0:
        raise ApiError(422, f"{param} must be at least 1.", "invalid_value", param=param)
    if asked > settings.max_tokens_cap:
        raise ApiError(422, f"{param}={asked} is above this server's cap of {settings.max_tokens_cap}.",
                       "max_tokens_too_large", param=param)
    return asked


def note_prompt(request, prompt: object, stream: bool) -> None:
    record = state(request)
    record["stream"] = stream
    if settings_of(request).log_prompts:
        record["prompt"] = prompt


def _count(request, entry: ModelEntry, prompt_tokens: int, completion_tokens: int) -> None:
    record = state(request)
    record["prompt_tokens"], record["completion_tokens"] = prompt_tokens, completion_tokens
    metrics_of(request).observe_tokens(entry.name, entry.version, prompt_tokens, completion_tokens)


async def generate(request, entry: ModelEntry, call: Callable[[], Generation]) -> Generation:
    try:
        result, waited = await entry.runner.run(call)
    except QueueFull as exc:
        raise ApiError(503, f"Server busy: {exc}.", "server_busy", "server_error", headers={"retry-after": "5"}) from exc
    except ValueError as exc:  # e.g. llama.cpp: prompt longer than the context window
        raise ApiError(400, str(exc), "invalid_prompt") from exc
    metrics_of(request).queue_wait.labels(entry.name, entry.version).observe(waited)
    _count(request, entry, result.prompt_tokens, result.completion_tokens)
    return result


def open_stream(request, entry: ModelEntry, start: Callable[[], Iterator[Delta]]) -> AsyncIterator[Delta]:
    """Queue a streaming generation now (503 when the queue is full); iterate the result for its deltas."""
    try:
        pieces = entry.runner.stream(start)
    except QueueFull as exc:
        raise ApiError(503, f"Server busy: {exc}.", "server_busy", "server_error", headers={"retry-after": "5"}) from exc
    started = time.perf_counter()
    metrics = metrics_of(request)

    async def deltas() -> AsyncIterator[Delta]:
        first = True
        async for delta, waited in pieces:
            if first:
                first = False
                metrics.queue_wait.labels(entry.name, entry.version).observe(waited)
                metrics.first_token.labels(entry.name, entry.version).observe(time.perf_counter() - started)
            if delta.finish_reason is not None:
                _count(request, entry, delta.prompt_tokens or 0, delta.completion_tokens or 0)
            yield delta

    return deltas()
