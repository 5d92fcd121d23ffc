"""The teacher's call path: `TeacherClient.call` (rate limits around one completion, usage counted), the
chat-completions client (Groq through the `groq` client, OpenAI-compatible servers through `openai`), and
`TeacherError`, the one error a failed call raises.
"""

import email.utils
import time

from slm_assets.teacher_client.limits import TeacherLimits


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


class TeacherClient:
    """A model behind `_complete`; `call` is the public path every caller uses."""

    provider: str
    model: str

    def _complete(self, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        """(content, prompt tokens, completion tokens); raises TeacherError."""
        raise NotImplementedError

    def call(self, messages: list[dict], limits: TeacherLimits | None, max_tokens: int) -> tuple[str, int, int]:
        """(content, prompt tokens, completion tokens) of one completion, inside `limits` when given."""
        # a failed call keeps its estimated reservation in the window: the server may have counted it
        ticket = limits.before(messages, max_tokens) if limits else None
        content, prompt_tokens, completion_tokens = self._complete(messages, max_tokens)
        if limits:
            limits.after(ticket, prompt_tokens, completion_tokens, max_tokens)
        return content, prompt_tokens, completion_tokens


class ChatClient(TeacherClient):
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


def chat_completions_client(provider: str, api_key: str | None, base_url: str | None, timeout_s: float,
                            max_retries: int):
    """The `groq` or `openai` client object for `provider`; raises TeacherError when a setting it needs is missing."""
    if provider == "groq":
        from groq import Groq

        if not api_key:
            raise TeacherError("the groq teacher needs GROQ_API_KEY (environment or .env)")
        return Groq(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries)
    if provider == "openai":
        from openai import OpenAI

        if not base_url:
            raise TeacherError("the openai teacher needs base_url (e.g. http://127.0.0.1:11434/v1 for Ollama)")
        return OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s, max_retries=max_retries)
    raise ValueError(f"unknown chat teacher provider {provider!r}")
