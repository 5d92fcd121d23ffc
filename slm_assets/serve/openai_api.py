"""OpenAI-compatible routes: /v1/chat/completions, /v1/completions (both with SSE streaming), /v1/models."""

import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from slm_assets.serve.api_error import ApiError
from slm_assets.serve.open_book import OpenBook
from slm_assets.serve.request_handling import generate, lookup, note_prompt, open_stream, sampling

router = APIRouter()


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: only text parts are understood here
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    max_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict | None = None

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    # extensions: answer from the domain's documents (when the server has an index) and say which
    retrieval: bool | None = Field(default=None, description="Retrieve passages (default: on when indexed).")
    retrieval_k: int | None = Field(default=None, ge=1, le=10, description="Passages retrieved.")


class CompletionRequest(_Sampling):
    prompt: str | list[str]


def _sse(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _usage_chunk(make_chunk, prompt_tokens: int, completion_tokens: int) -> dict:
    """The last chunk before `[DONE]` when the client asked for `stream_options.include_usage`: no choices."""
    return {**make_chunk(None, None), "choices": [], "usage": _usage(prompt_tokens, completion_tokens)}


def _sse_response(events) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _identity(id_prefix: str, kind: str, entry) -> dict:
    """id, object, created and model, as the response and every chunk of one request carry them."""
    return {"id": f"{id_prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": entry.name}


def _stream_response(request, entry, start, make_chunk, include_usage: bool) -> StreamingResponse:
    """SSE: `data: {chunk}` per text piece, a chunk with finish_reason, optional usage, `data: [DONE]`."""
    deltas = open_stream(request, entry, start)

    async def events():
        opening = make_chunk(None, None, opening=True)
        if opening is not None:
            yield _sse(opening)
        try:
            async for delta in deltas:
                if delta.text:
                    yield _sse(make_chunk(delta.text, None))
                if delta.finish_reason is not None:
                    yield _sse(make_chunk(None, delta.finish_reason))
                    if include_usage:
                        yield _sse(_usage_chunk(make_chunk, delta.prompt_tokens or 0, delta.completion_tokens or 0))
        except Exception as exc:  # headers are sent: the error goes into the stream, as OpenAI does
            yield _sse({"error": {"message": str(exc), "type": "server_error", "param": None, "code": None}})
        yield _sse("[DONE]")

    return _sse_response(events())


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    entry = lookup(request, body.model)
    asked = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    param = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    max_tokens, kwargs = sampling(request, asked, param, body.temperature, body.stops(), body.top_p, body.seed)
    messages = entry.with_system([{"role": m.role, "content": m.text()} for m in body.messages])
    retriever = getattr(request.app.state, "retriever", None)
    book = OpenBook(messages)
    if retriever is not None and body.retrieval is not False:
        book = retriever.ground(messages, body.retrieval_k)
    messages, sources = book.messages, book.sources
    checked = retriever is not None and retriever.checks(book)
    note_prompt(request, messages, body.stream)
    base = _identity("chatcmpl", "chat.completion.chunk", entry)

    def chunk(text, finish, opening=False):
        if opening:
            delta = {"role": "assistant", "content": ""}
        else:
            delta = {"content": text} if text is not None else {}
        payload = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return {**payload, "sources": sources} if opening and retriever is not None else payload

    def call(stream: bool):
        return entry.backend.chat(messages, max_tokens, stream=stream, **kwargs)

    if body.stream and not checked:
        return _stream_response(request, entry, lambda: call(True), chunk, body.include_usage())

    result = await generate(request, entry, lambda: call(False))
    text, grounding = result.text, {}
    if checked:  # the answer is checked against the passages before anything is sent
        reply = retriever.check(book, result.text)
        text, grounding = reply.text, {"grounding": reply.as_dict()}
    if body.stream:
        return _checked_stream(chunk, text, result, grounding, body.include_usage())
    return JSONResponse({
        **base, "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": None, "finish_reason": result.finish_reason}],
        "usage": _usage(result.prompt_tokens, result.completion_tokens),
        "system_fingerprint": f"{entry.name}-v{entry.version}" if entry.version else None,
        **({"sources": sources} if retriever is not None else {}), **grounding,
    })


def _checked_stream(make_chunk, text: str, result, grounding: dict, include_usage: bool) -> StreamingResponse:
    """A grounding-checked answer as SSE: known in full before the first byte, so sent as one content chunk; the
    finishing chunk carries `grounding` (answer_mode, support, relevance)."""
    def events():
        yield _sse(make_chunk(None, None, opening=True))
        yield _sse(make_chunk(text, None))
        yield _sse({**make_chunk(None, result.finish_reason), **grounding})
        if include_usage:
            yield _sse(_usage_chunk(make_chunk, result.prompt_tokens, result.completion_tokens))
        yield _sse("[DONE]")

    return _sse_response(events())


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    entry = lookup(request, body.model)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise ApiError(400, "Send one prompt per request.", "invalid_value", param="prompt")
    prompt = prompts[0]
    max_tokens, kwargs = sampling(request, body.max_tokens, "max_tokens", body.temperature, body.stops(), body.top_p,
                                  body.seed)
    note_prompt(request, prompt, body.stream)
    base = _identity("cmpl", "text_completion", entry)

    def call(stream: bool):
        return entry.backend.complete(prompt, max_tokens, stream=stream, **kwargs)

    if body.stream:
        def chunk(text, finish, opening=False):
            if opening:
                return None
            return {**base, "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}]}

        return _stream_response(request, entry, lambda: call(True), chunk, body.include_usage())

    result = await generate(request, entry, lambda: call(False))
    return JSONResponse({
        **base,
        "choices": [{"index": 0, "text": result.text, "logprobs": None, "finish_reason": result.finish_reason}],
        "usage": _usage(result.prompt_tokens, result.completion_tokens),
    })


@router.get("/v1/models")
async def list_models(request: Request):
    models = request.app.state.models
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": int(entry.loaded_at), "owned_by": "slm_assets",
         "version": entry.version or None, "backend": entry.kind}
        for name, entry in models.items()
    ]}
