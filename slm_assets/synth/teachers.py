"""LLM teachers: the shared prompt -> parse -> repair -> judge logic over a teacher client
(`slm_assets.teacher_client`: the call path and the chat-completions clients). The local transformers
teacher in local_teacher.py shares the same logic.
"""

import json
import logging
import re
import time

from pydantic import ValidationError

from slm_assets.synth.config import TeacherConfig
from slm_assets.synth.prompts import (
    Template,
    build_messages,
    judge_max_tokens,
    judge_messages,
    repair_messages,
)
from slm_assets.synth.records import ChunkForSynth, QABatch, QAPair, TeacherResult, VerdictBatch
from slm_assets.teacher_client.client import ChatClient, TeacherClient, chat_completions_client
from slm_assets.teacher_client.limits import TeacherLimits

log = logging.getLogger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


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


class LLMTeacher(TeacherClient):
    """Prompting, parsing, one repair round and the optional judge; subclasses supply `_complete`."""

    provider: str
    model: str
    topic: str
    temperature: float
    max_tokens: int
    seed: int
    usd_per_million: tuple[float, float] = (0.0, 0.0)  # (prompt, completion) for the cost estimate

    def generate(self, chunk: ChunkForSynth, template: Template, n_pairs: int,
                 limits: TeacherLimits | None = None) -> TeacherResult:
        messages = build_messages(self.topic, chunk, template, n_pairs, self.seed)
        started = time.perf_counter()
        content, prompt_tokens, completion_tokens = self.call(messages, limits, self.max_tokens)
        result = TeacherResult(pairs=[], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        try:
            result.pairs = parse_batch(content).pairs
        except (ValueError, ValidationError) as exc:
            result.invalid.append(f"invalid JSON: {str(exc)[:300]}")
            content2, p2, c2 = self.call(repair_messages(messages, content, str(exc)), limits, self.max_tokens)
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
        content, prompt_tokens, completion_tokens = self.call(judge_messages(chunk, pairs), limits, max_tokens)
        return parse_verdicts(content, len(pairs)), prompt_tokens, completion_tokens


class ChatTeacher(LLMTeacher, ChatClient):
    """The question-writing teacher over a chat-completions client (ChatClient's call, LLMTeacher's prompts)."""


def make_chat_teacher(config: TeacherConfig, api_key: str | None, topic: str, seed: int, provider: str | None = None,
                      base_url: str | None = None) -> ChatTeacher:
    """The Groq or OpenAI-compatible teacher `config` describes, with its key; `provider` and `base_url`, when
    given, replace the config's (TeacherResource's overrides)."""
    provider = provider or config.provider
    client = chat_completions_client(provider, api_key, base_url or config.base_url, config.timeout_s,
                                     config.max_retries)
    return ChatTeacher(provider, client, config.model, topic, config.temperature, config.max_tokens, seed,
                       config.prices(provider))
