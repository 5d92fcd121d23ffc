"""LLM teachers: the shared prompt -> parse -> repair -> judge logic, and the chat-completions clients
(Groq through the `groq` client, OpenAI-compatible servers through `openai`). The local transformers
teacher in local_teacher.py shares the same logic.
"""

import email.utils
import json
import logging
import re
import time

from pydantic import ValidationError

from slm_assets.synth.limits import TeacherLimits
from slm_assets.synth.prompts import (
    Template,
    build_messages,
    judge_max_tokens,
    judge_messages,
    repair_messages,
)
from slm_assets.synth.records import ChunkForSynth, QABatch, QAPair, TeacherResult, VerdictBatch

log = logging.getLogger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class TeacherError(RuntimeError):
    """A teacher call that failed after the client's own retries (rate limit, server error, timeout).

    `status` is the HTTP status when there was one (429: rate limited) and `retry_after` the seconds
    the server asked to wait, when it said.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


def retry_after_s(headers) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date), as the clients read them."""
    if headers is None:
        return None
    try:
        return float(headers.get("retry-after-ms")) / 1000
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    parsed = email.utils.parsedate_tz(value) if value else None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time()) if parsed else None


def _json_object(content: str) -> dict:
    text = FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return json.loads(text[start : end + 1])


def parse_batch(content: str) -> QABatch:
    """The JSON object inside a reply (code fences and text around it tolerated)."""
    return QABatch.model_validate(_json_object(content))


def parse_verdicts(content: str, n_pairs: int) -> list[bool | None]:
    """Verdicts by 1-based id; a pair the judge left out (or a reply that is not JSON) gets None."""
    try:
        batch = VerdictBatch.model_validate(_json_object(content))
    except (ValueError, ValidationError):
        return [None] * n_pairs
    by_id = {v.id: v.supported for v in batch.verdicts}
    return [by_id.get(i) for i in range(1, n_pairs + 1)]


class LLMTeacher:
    """Prompting, parsing, one repair round and the optional judge; subclasses supply `_complete`."""

    provider: str
    model: str
    topic: str
    temperature: float
    max_tokens: int
    seed: int
    usd_per_million: tuple[float, float] = (0.0, 0.0)  # (prompt, completion) for the cost estimate

    def _complete(self, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        """(content, prompt tokens, completion tokens); raises TeacherError."""
        raise NotImplementedError

    def _call(self, messages: list[dict], limits: TeacherLimits | None, max_tokens: int) -> tuple[str, int, int]:
        # a failed call keeps its estimated reservation in the window: the server may have counted it
        ticket = limits.before(messages, max_tokens) if limits else None
        content, prompt_tokens, completion_tokens = self._complete(messages, max_tokens)
        if limits:
            limits.after(ticket, prompt_tokens, completion_tokens, max_tokens)
        return content, prompt_tokens, completion_tokens

    def generate(self, chunk: ChunkForSynth, template: Template, n_pairs: int,
                 limits: TeacherLimits | None = None) -> TeacherResult:
        messages = build_messages(self.topic, chunk, template, n_pairs, self.seed)
        started = time.perf_counter()
        content, prompt_tokens, completion_tokens = self._call(messages, limits, self.max_tokens)
        result = TeacherResult(pairs=[], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        try:
            result.pairs = parse_batch(content).pairs
        except (ValueError, ValidationError) as exc:
            result.invalid.append(f"invalid JSON: {str(exc)[:300]}")
            content2, p2, c2 = self._call(repair_messages(messages, content, str(exc)), limits, self.max_tokens)
            result.prompt_tokens += p2
            result.completion_tokens += c2
            try:
                result.pairs = parse_batch(content2).pairs
            except (ValueError, ValidationError) as exc2:
                result.invalid.append(f"invalid JSON after repair: {str(exc2)[:300]}")
        # the template, not the model, says what kind of question was asked for
        result.pairs = [p.model_copy(update={"question_type": template.question_type}) for p in result.pairs]
        result.latency_s = time.perf_counter() - started
        return result

    def judge(self, chunk: ChunkForSynth, pairs: list[QAPair],
              limits: TeacherLimits | None = None) -> tuple[list[bool | None], int, int]:
        """Is each pair supported by the chunk? (verdicts, prompt tokens, completion tokens)."""
        max_tokens = min(self.max_tokens, judge_max_tokens(len(pairs)))
        content, prompt_tokens, completion_tokens = self._call(judge_messages(chunk, pairs), limits, max_tokens)
        return parse_verdicts(content, len(pairs)), prompt_tokens, completion_tokens


class ChatTeacher(LLMTeacher):
    """A teacher reached through a chat-completions client (groq.Groq or openai.OpenAI share the API)."""

    def __init__(self, provider: str, client, model: str, topic: str, temperature: float, max_tokens: int, seed: int,
                 usd_per_million: tuple[float, float] = (0.0, 0.0)):
        self.provider, self.client, self.model = provider, client, model
        self.topic, self.temperature, self.max_tokens, self.seed = topic, temperature, max_tokens, seed
        self.usd_per_million = usd_per_million

    def _complete(self, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        kwargs = dict(model=self.model, messages=messages, temperature=self.temperature, max_tokens=max_tokens)
        if self.provider != "groq":
            kwargs["seed"] = self.seed
        try:
            response = self.client.chat.completions.create(**kwargs)
        except Exception as exc:  # the clients raise their own typed errors; keep the name, status, retry-after
            status = getattr(exc, "status_code", None)
            response = getattr(exc, "response", None)
            raise TeacherError(
                f"{self.provider} {self.model}: {type(exc).__name__} (status {status}): {exc}",
                status=status, retry_after=retry_after_s(getattr(response, "headers", None)),
            ) from exc
        usage = getattr(response, "usage", None)
        content = response.choices[0].message.content or ""
        return content, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0


def make_chat_teacher(provider: str, model: str, api_key: str | None, base_url: str | None, topic: str,
                      temperature: float, max_tokens: int, timeout_s: float, max_retries: int, seed: int,
                      usd_per_million: tuple[float, float] = (0.0, 0.0)) -> ChatTeacher:
    if provider == "groq":
        from groq import Groq

        if not api_key:
            raise TeacherError("the groq teacher needs GROQ_API_KEY (environment or .env)")
        client = Groq(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries)
    elif provider == "openai":
        from openai import OpenAI

        if not base_url:
            raise TeacherError("the openai teacher needs base_url (e.g. http://127.0.0.1:11434/v1 for Ollama)")
        client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s, max_retries=max_retries)
    else:
        raise ValueError(f"unknown chat teacher provider {provider!r}")
    return ChatTeacher(provider, client, model, topic, temperature, max_tokens, seed, usd_per_million)
