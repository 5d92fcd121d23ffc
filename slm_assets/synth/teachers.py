"""LLM teachers over chat-completions APIs: Groq (the `groq` client) and OpenAI-compatible servers."""

import json
import logging
import re
import time

from pydantic import ValidationError

from slm_assets.synth.prompts import Template, build_messages, repair_messages
from slm_assets.synth.records import ChunkForSynth, QABatch, TeacherResult

log = logging.getLogger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class TeacherError(RuntimeError):
    """A teacher call that failed after the client's own retries (rate limit, server error, timeout)."""


def parse_batch(content: str) -> QABatch:
    """The JSON object inside a reply (code fences and text around it tolerated)."""
    text = FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return QABatch.model_validate(json.loads(text[start : end + 1]))


class ChatTeacher:
    """A teacher reached through a chat-completions client (groq.Groq or openai.OpenAI share the API)."""

    def __init__(self, provider: str, client, model: str, topic: str, temperature: float, max_tokens: int, seed: int):
        self.provider, self.client, self.model = provider, client, model
        self.topic, self.temperature, self.max_tokens, self.seed = topic, temperature, max_tokens, seed

    def _complete(self, messages: list[dict]) -> tuple[str, int, int]:
        kwargs = dict(model=self.model, messages=messages, temperature=self.temperature, max_tokens=self.max_tokens)
        if self.provider != "groq":
            kwargs["seed"] = self.seed
        try:
            response = self.client.chat.completions.create(**kwargs)
        except Exception as exc:  # the clients raise their own typed errors; keep the name and status
            status = getattr(exc, "status_code", None)
            raise TeacherError(f"{self.provider} {self.model}: {type(exc).__name__} (status {status}): {exc}") from exc
        usage = getattr(response, "usage", None)
        content = response.choices[0].message.content or ""
        return content, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0

    def generate(self, chunk: ChunkForSynth, template: Template, n_pairs: int) -> TeacherResult:
        messages = build_messages(self.topic, chunk, template, n_pairs, self.seed)
        started = time.perf_counter()
        content, prompt_tokens, completion_tokens = self._complete(messages)
        result = TeacherResult(pairs=[], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        try:
            result.pairs = parse_batch(content).pairs
        except (ValueError, ValidationError) as exc:
            result.invalid.append(f"invalid JSON: {str(exc)[:300]}")
            content2, p2, c2 = self._complete(repair_messages(messages, content, str(exc)))
            result.prompt_tokens += p2
            result.completion_tokens += c2
            try:
                result.pairs = parse_batch(content2).pairs
            except (ValueError, ValidationError) as exc2:
                result.invalid.append(f"invalid JSON after repair: {str(exc2)[:300]}")
        result.latency_s = time.perf_counter() - started
        return result


def make_chat_teacher(provider: str, model: str, api_key: str | None, base_url: str | None, topic: str,
                      temperature: float, max_tokens: int, timeout_s: float, max_retries: int, seed: int) -> ChatTeacher:
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
    return ChatTeacher(provider, client, model, topic, temperature, max_tokens, seed)
