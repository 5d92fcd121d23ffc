"""Ollama-compatible routes: /api/chat, /api/generate (NDJSON streaming unless `stream: false`), /api/tags."""

import hashlib
import json
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from slm_assets.serve.request_handling import generate, lookup, note_prompt, open_stream, sampling

router = APIRouter()


class Options(BaseModel):
    model_config = ConfigDict(extra="ignore")
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    num_predict: int | None = None
    seed: int | None = None
    stop: list[str] | None = None


class OllamaMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str = ""


class OllamaChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[OllamaMessage] = Field(default_factory=list)
    stream: bool = True
    options: Options = Field(default_factory=Options)


class OllamaGenerateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    prompt: str = ""
    system: str | None = None
    raw: bool = False  # true: the prompt goes to the model as is, without the chat template
    stream: bool = True
    options: Options = Field(default_factory=Options)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _sampling(request, options: Options) -> tuple[int, dict]:
    return sampling(request, options.num_predict, "num_predict", options.temperature, options.stop, options.top_p,
                    options.seed)


def _final(started: float, finish: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {"done": True, "done_reason": finish, "total_duration": int((time.perf_counter() - started) * 1e9),
            "load_duration": 0, "prompt_eval_count": prompt_tokens, "eval_count": completion_tokens}


async def _respond(request, entry, call, stream: bool, piece):
    """NDJSON lines `{..., "done": false}` per text piece and a last line with `done: true`; or one object."""
    started = time.perf_counter()
    if not stream:
        result = await generate(request, entry, lambda: call(False))
        return JSONResponse({"model": entry.name, "created_at": _now(), **piece(result.text),
                             **_final(started, result.finish_reason, result.prompt_tokens,
                                      result.completion_tokens)})

    deltas = open_stream(request, entry, lambda: call(True))

    async def lines():
        try:
            async for delta in deltas:
                if delta.text:
                    yield json.dumps({"model": entry.name, "created_at": _now(), **piece(delta.text),
                                      "done": False}, ensure_ascii=False) + "\n"
                if delta.finish_reason is not None:
                    yield json.dumps({"model": entry.name, "created_at": _now(), **piece(""),
                                      **_final(started, delta.finish_reason, delta.prompt_tokens or 0,
                                               delta.completion_tokens or 0)}) + "\n"
        except Exception as exc:  # headers are sent: Ollama reports errors as a line with "error"
            yield json.dumps({"error": str(exc)}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post("/api/chat")
async def ollama_chat(body: OllamaChatRequest, request: Request):
    entry = lookup(request, body.model)
    max_tokens, kwargs = _sampling(request, body.options)
    messages = entry.with_system([{"role": m.role, "content": m.content} for m in body.messages])
    note_prompt(request, messages, body.stream)

    def call(stream: bool):
        return entry.backend.chat(messages, max_tokens, stream=stream, **kwargs)

    return await _respond(request, entry, call, body.stream,
                          lambda text: {"message": {"role": "assistant", "content": text}})


@router.post("/api/generate")
async def ollama_generate(body: OllamaGenerateRequest, request: Request):
    entry = lookup(request, body.model)
    if not body.prompt:  # Ollama answers an empty prompt by loading the model
        return {"model": entry.name, "created_at": _now(), "response": "", "done": True, "done_reason": "load"}
    max_tokens, kwargs = _sampling(request, body.options)
    if body.raw:
        note_prompt(request, body.prompt, body.stream)

        def call(stream: bool):
            return entry.backend.complete(body.prompt, max_tokens, stream=stream, **kwargs)
    else:
        system = [{"role": "system", "content": body.system}] if body.system else []
        messages = entry.with_system([*system, {"role": "user", "content": body.prompt}])
        note_prompt(request, messages, body.stream)

        def call(stream: bool):
            return entry.backend.chat(messages, max_tokens, stream=stream, **kwargs)

    return await _respond(request, entry, call, body.stream, lambda text: {"response": text})


@router.get("/api/tags")
async def ollama_tags(request: Request):
    models = []
    for name, entry in request.app.state.models.items():
        path = getattr(entry.backend, "gguf_path", None)
        size = path.stat().st_size if path is not None and path.exists() else 0
        models.append({
            "name": f"{name}:latest", "model": f"{name}:latest",
            "modified_at": datetime.fromtimestamp(entry.loaded_at, UTC).isoformat().replace("+00:00", "Z"),
            "size": size, "digest": hashlib.sha256(f"{name}:{entry.version}:{path}".encode()).hexdigest(),
            "details": {"format": "gguf" if path is not None else "safetensors", "family": "llama",
                        "parameter_size": "", "quantization_level": "", "version": entry.version or None,
                        "backend": entry.kind},
        })
    return {"models": models}
