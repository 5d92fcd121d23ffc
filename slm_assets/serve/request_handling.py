"""What every OpenAI and Ollama route does with a request: find the model it names, bound its tokens, queue its
generation on the model's runner, and record what it used for the access log and the metrics."""

import time
from collections.abc import AsyncIterator, Callable, Iterator

from slm_assets.serve.api_error import ApiError
from slm_assets.serve.backends import CoalescedDeltas, Delta, Generation
from slm_assets.serve.metrics import ServeMetrics
from slm_assets.serve.model_entry import ModelEntry
from slm_assets.serve.runner import QueueFull
from slm_assets.serve.settings import ServeSettings


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


def sampling(request, asked_tokens: int | None, param: str, temperature: float | None, stop: list[str] | None,
             top_p: float | None, seed: int | None) -> tuple[int, dict]:
    """(max_tokens, the backend's sampling keyword arguments): the token bound of `max_tokens_for`, the server's
    default temperature when none is asked, top_p 1 when none (or 0) is."""
    max_tokens = max_tokens_for(request, asked_tokens, param)
    temperature = settings_of(request).default_temperature if temperature is None else temperature
    return max_tokens, {"temperature": temperature, "stop": stop or None, "top_p": top_p or 1.0, "seed": seed}


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


def coalesced(start: Callable[[], Iterator[Delta]], interval_s: float) -> Callable[[], Iterator[Delta]]:
    return lambda: CoalescedDeltas(start(), interval_s)


def open_stream(request, entry: ModelEntry, start: Callable[[], Iterator[Delta]]) -> AsyncIterator[Delta]:
    """Queue a streaming generation now (503 when the queue is full); iterate the result for its deltas."""
    interval_s = settings_of(request).stream_interval_ms / 1000
    if interval_s > 0:
        start = coalesced(start, interval_s)
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
