"""Pairwise LLM judge: the domain's teacher (Groq or an OpenAI-compatible server) compares two answers.

Each question is asked twice, with the answers in both orders (tuned as A, then tuned as B), so a judge
that favours a position cancels out: a pair is a win or a loss only when both orders agree, and a tie
otherwise. A verdict that is not the JSON object asked for (`{"winner": "A"|"B"|"tie", "reason": ...}`)
is counted as malformed and its pair left undecided; nothing is guessed from free text. A call that fails
after the client's retries is counted as an error, likewise undecided.

Reported under the judge's own name, `llm_judge:<provider>:<model>`, beside (never instead of) the
reference-based `reference_f1` judge in benchmark.py.
"""

import json
import logging
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slm_assets.teacher_client.client import ChatClient, TeacherError
from slm_assets.teacher_client.limits import TeacherLimits

log = logging.getLogger(__name__)

JUDGE_SYSTEM = (
    "You are an impartial judge comparing two answers to a question about {topic}. Decide which answer is "
    "better: first factual correctness and agreement with the reference answer when one is given, then "
    "completeness, then concision. The order in which the answers are shown says nothing about their "
    "quality; length is not quality. Reply with only a JSON object, no other text: "
    '{{"winner": "A" | "B" | "tie", "reason": "<one sentence>"}}. '
    'Use "tie" when both answers are equally good or equally bad.'
)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
WINNERS = {"a": "A", "b": "B", "tie": "tie"}


class JudgeVerdictError(ValueError):
    """A reply that is not a verdict object with winner A, B or tie."""


def judge_messages(topic: str, question: str, answer_a: str, answer_b: str, reference: str | None) -> list[dict]:
    parts = [f"[Question]\n{question}\n[End of question]"]
    if reference:
        parts.append(f"[Reference answer]\n{reference}\n[End of reference answer]")
    parts += [f"[Answer A]\n{answer_a}\n[End of answer A]", f"[Answer B]\n{answer_b}\n[End of answer B]"]
    return [{"role": "system", "content": JUDGE_SYSTEM.format(topic=topic)},
            {"role": "user", "content": "\n\n".join(parts)}]


def parse_verdict(content: str) -> tuple[str, str]:
    """(winner A|B|tie, reason) from the JSON object in a reply (code fences tolerated); JudgeVerdictError otherwise."""
    text = FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise JudgeVerdictError("no JSON object in the reply")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise JudgeVerdictError(f"invalid JSON: {exc}") from exc
    winner = data.get("winner") if isinstance(data, dict) else None
    if not isinstance(winner, str) or winner.strip().lower() not in WINNERS:
        raise JudgeVerdictError(f"winner must be 'A', 'B' or 'tie', got {winner!r}")
    reason = data.get("reason", "")
    return WINNERS[winner.strip().lower()], reason if isinstance(reason, str) else json.dumps(reason)


@dataclass
class Verdict:
    """One call: `winner` is A, B or tie, or None when the reply was malformed or the call failed."""

    winner: str | None
    reason: str = ""
    malformed: bool = False
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def reconcile(tuned_first: Verdict, tuned_second: Verdict) -> str | None:
    """Outcome for the tuned model: `tuned_first` had it as A, `tuned_second` as B.

    win / loss only when both orders name it (or both name the other); any other valid combination,
    including one tie and one preference, is a tie. None when either verdict is missing.
    """
    if tuned_first.winner is None or tuned_second.winner is None:
        return None
    first = {"A": "tuned", "B": "base", "tie": "tie"}[tuned_first.winner]  # tuned was shown as A
    second = {"A": "base", "B": "tuned", "tie": "tie"}[tuned_second.winner]  # tuned was shown as B
    if first == second == "tuned":
        return "win"
    if first == second == "base":
        return "loss"
    return "tie"


def performance_ratio(wins: int, losses: int) -> float:
    """Wins of the tuned model over wins of base (inf when base never wins, 1.0 when neither does)."""
    return wins / losses if losses else (math.inf if wins else 1.0)


class LLMJudge:
    """A pairwise judge over a chat teacher (`slm_assets.teacher_client.client.ChatClient`, built at temperature 0).

    `limits` (a `TeacherLimits`) keeps the calls inside the teacher's requests/tokens per minute.
    """

    def __init__(self, teacher, topic: str, max_tokens: int = 200, workers: int = 4, limits=None):
        self.teacher, self.topic, self.max_tokens, self.workers, self.limits = teacher, topic, max_tokens, workers, limits

    @property
    def name(self) -> str:
        return f"llm_judge:{self.teacher.provider}:{self.teacher.model}"

    def verdict(self, question: str, answer_a: str, answer_b: str, reference: str | None) -> Verdict:
        messages = judge_messages(self.topic, question, answer_a, answer_b, reference)
        try:
            # the teacher's own call path: rate limits, usage accounting, typed errors with status
            content, prompt_tokens, completion_tokens = self.teacher.call(messages, self.limits, self.max_tokens)
        except TeacherError as exc:
            return Verdict(None, error=str(exc)[:300])
        try:
            winner, reason = parse_verdict(content)
        except JudgeVerdictError as exc:
            return Verdict(None, reason=f"{exc}: {content[:200]!r}", malformed=True,
                           prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return Verdict(winner, reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def compare(self, items: list[dict]) -> list[tuple[Verdict, Verdict]]:
        """items: {question, tuned, base, reference}. For each, (verdict with tuned as A, verdict with tuned as B)."""
        calls: list[tuple[str, str, str, str | None]] = []
        for item in items:
            calls.append((item["question"], item["tuned"], item["base"], item.get("reference")))
            calls.append((item["question"], item["base"], item["tuned"], item.get("reference")))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            verdicts = list(pool.map(lambda c: self.verdict(*c), calls))  # map keeps the order: deterministic
        return [(verdicts[2 * i], verdicts[2 * i + 1]) for i in range(len(items))]


def summarize(judge_name: str, baseline: str, pairs: list[tuple[Verdict, Verdict]]) -> dict:
    """Win/loss/tie counts over the decided pairs, with malformed replies and failed calls counted apart."""
    outcomes = [reconcile(a, b) for a, b in pairs]
    wins, losses, ties = outcomes.count("win"), outcomes.count("loss"), outcomes.count("tie")
    decided = wins + losses + ties
    verdicts = [v for pair in pairs for v in pair]
    chosen = [v.winner for v in verdicts if v.winner in ("A", "B")]
    agreeing = sum(1 for (a, b), o in zip(pairs, outcomes, strict=True)
                   if o is not None and (o != "tie" or a.winner == b.winner == "tie"))
    errors = [v.error for v in verdicts if v.error]
    return {
        "judge": judge_name, "baseline": baseline, "pairs": len(pairs), "decided": decided,
        "wins": wins, "losses": losses, "ties": ties, "undecided": len(pairs) - decided,
        "win_rate": wins / decided if decided else None,
        "performance_ratio": performance_ratio(wins, losses) if decided else None,
        "malformed_verdicts": sum(v.malformed for v in verdicts),
        "failed_calls": len(errors),
        "first_error": errors[0] if errors else None,
        # 1.0 = every decided pair got the same verdict in both orders; position bias lowers it
        "order_consistency": agreeing / decided if decided else None,
        # share of A/B verdicts that picked the first-shown answer: 0.5 for a judge without position bias
        "first_position_rate": chosen.count("A") / len(chosen) if chosen else None,
        "prompt_tokens": sum(v.prompt_tokens for v in verdicts),
        "completion_tokens": sum(v.completion_tokens for v in verdicts),
    }


def judge_rows(judge: LLMJudge, rows: list[dict], challenger: str, baseline: str = "base",
               max_questions: int | None = None) -> dict:
    """Judge `challenger` against `baseline` on benchmark rows ({question, reference, <name>_answer}), writing
    `<challenger>_llm_judge` (win/loss/tie/undecided) and both raw verdicts into each judged row."""
    judged = rows[:max_questions] if max_questions else rows
    items = [{"question": r["question"], "tuned": r[f"{challenger}_answer"], "base": r[f"{baseline}_answer"],
              "reference": r.get("reference")} for r in judged]
    pairs = judge.compare(items)
    for row, (first, second) in zip(judged, pairs, strict=True):
        row[f"{challenger}_llm_judge"] = reconcile(first, second) or "undecided"
        row[f"{challenger}_llm_judge_orders"] = f"{_label(first)}|{_label(second)}"
    summary = summarize(judge.name, baseline, pairs)
    log.info("%s: %s vs %s: %d wins, %d losses, %d ties, %d undecided (%d malformed, %d failed calls)",
             judge.name, challenger, baseline, summary["wins"], summary["losses"], summary["ties"],
             summary["undecided"], summary["malformed_verdicts"], summary["failed_calls"])
    return summary


def _label(verdict: Verdict) -> str:
    if verdict.winner:
        return verdict.winner
    return "malformed" if verdict.malformed else "error"


LLM_PROVIDERS = ("groq", "openai")


def domain_chat_teacher(teachers, spec, max_tokens: int):
    """(the domain's chat-completions teacher at temperature 0, its rate limits, None) or (None, None, why not).

    `teachers` is anything with TeacherResource's `provider_override` and `for_domain` (the resource itself in
    Dagster and the CLI); `spec` a DomainSpec. Offline and local teachers are not chat-completions clients.
    """
    provider = getattr(teachers, "provider_override", None) or spec.teacher.provider
    if provider not in LLM_PROVIDERS:
        return None, None, f"the domain's teacher is {provider!r}, not an LLM provider ({', '.join(LLM_PROVIDERS)})"
    config = spec.teacher.model_copy(update={"provider": provider, "temperature": 0.0, "max_tokens": max_tokens})
    try:
        teacher = teachers.for_domain(config, spec.topic, spec.benchmark.seed)
    except TeacherError as exc:  # e.g. groq without GROQ_API_KEY
        return None, None, f"cannot reach the {provider} teacher: {exc}"
    if not isinstance(teacher, ChatClient):
        return None, None, f"the {provider} teacher is not a chat-completions client"
    return teacher, TeacherLimits.per_minute(spec.synth.requests_per_minute, spec.synth.tokens_per_minute), None


def benchmark_teacher_role(teachers, spec, switch: str, max_tokens: int, role: Callable):
    """(`role(teacher, limits)`, None) for the domain's chat-completions teacher when the benchmark config's `switch`
    field is on; else (None, why not)."""
    if not getattr(spec.benchmark, switch):
        return None, f"benchmark.{switch} is false"
    teacher, limits, why = domain_chat_teacher(teachers, spec, max_tokens)
    if teacher is None:
        return None, why
    return role(teacher, limits), None


def domain_llm_judge(teachers, spec) -> tuple[LLMJudge | None, str | None]:
    """The domain's teacher as a judge at temperature 0, or (None, why not). Only chat-completions providers
    judge: an offline or local teacher gives no LLM judge, and the report says so."""
    config = spec.benchmark
    return benchmark_teacher_role(
        teachers, spec, "llm_judge", config.judge_max_tokens,
        lambda teacher, limits: LLMJudge(teacher, spec.topic, max_tokens=config.judge_max_tokens,
                                         workers=config.judge_workers, limits=limits))
