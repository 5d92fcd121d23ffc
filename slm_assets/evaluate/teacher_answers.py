"""The domain's teacher LLM answering the benchmark questions, so the report shows how far the student is from
the model that wrote its training data.

The teacher is reached over a chat-completions API (Groq or an OpenAI-compatible server): it answers the same
chat prompts at temperature 0 with the same answer length, and is scored on every metric that needs only its
text. APIs return no token log-probabilities, so it has no reference perplexity. It is reported beside the
local models, never as a candidate for the promotion gate or the export.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from slm_assets.generation import Generated
from slm_assets.teacher_client.client import TeacherError

log = logging.getLogger(__name__)


class TeacherAnswersFailed(RuntimeError):
    """Some benchmark questions got no answer from the teacher; a partial row would not be comparable."""


class TeacherAnswerer:
    """Callable: chat prompts -> one `Generated` per prompt, in order, through the teacher's own call path
    (its rate limits, usage accounting and typed errors)."""

    def __init__(self, teacher, max_tokens: int, workers: int = 4, limits=None):
        self.teacher, self.max_tokens, self.workers, self.limits = teacher, max_tokens, workers, limits

    @property
    def name(self) -> str:
        return f"{self.teacher.provider}:{self.teacher.model}"

    def _answer(self, prompt: list[dict]) -> Generated | str:
        started = time.perf_counter()
        try:
            content, _, completion_tokens = self.teacher.call(prompt, self.limits, self.max_tokens)
        except TeacherError as exc:
            return str(exc)[:300]
        return Generated(text=content.strip(), latency_s=time.perf_counter() - started, new_tokens=completion_tokens)

    def __call__(self, prompts: list[list[dict]]) -> list[Generated]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            answers = list(pool.map(self._answer, prompts))  # map keeps the order
        errors = [a for a in answers if isinstance(a, str)]
        if errors:
            raise TeacherAnswersFailed(f"teacher {self.name}: {len(errors)} of {len(prompts)} benchmark questions "
                                       f"got no answer; first error: {errors[0]}")
        return answers


def domain_teacher_answerer(teachers, spec) -> tuple[TeacherAnswerer | None, str | None]:
    """The domain's LLM teacher as a benchmark answerer at temperature 0, or (None, why not)."""
    from slm_assets.evaluate.judge import benchmark_teacher_role

    config = spec.benchmark
    return benchmark_teacher_role(
        teachers, spec, "compare_teacher", config.max_new_tokens,
        lambda teacher, limits: TeacherAnswerer(teacher, config.max_new_tokens, config.judge_workers, limits))


def teacher_roles(teachers, spec) -> dict:
    """The domain's LLM teacher as judge and as a compared model: keyword arguments for `run_evaluation`
    (judge, judge_skipped, answerers, notes), with the reasons when it plays neither."""
    from slm_assets.evaluate.judge import domain_llm_judge

    judge, judge_skipped = domain_llm_judge(teachers, spec)
    answerer, teacher_skipped = domain_teacher_answerer(teachers, spec)
    return {"judge": judge, "judge_skipped": judge_skipped,
            "answerers": {"teacher": answerer} if answerer else None,
            "notes": [f"Teacher not compared: {teacher_skipped}."] if teacher_skipped else None}
