"""The QA generation loop: resumable, rate-limited, persisting every pair the moment it arrives.

Work is split into units (chunk x template). A unit's key hashes the chunk, the template and
version, and the teacher; a unit whose key is stored in `teacher_calls` is never called again,
so a killed run resumes without repeating paid calls and without duplicating pairs.

Calls run in a thread pool; results are handled (gated, deduplicated, counted, stored) only on the
calling thread, one at a time, so the accepted count stops exactly at the target: pairs that
arrive from calls still in flight are stored as rejected `target_reached`.

Failures: a unit whose call failed after the client's own retries (5xx, timeout) is retried once,
`retry_pause_s` later; if it fails again it is left for the next run (never stored as done). A
rate-limit error pauses every call for the retry-after the server gave, and the unit goes back in
the queue.
"""

import hashlib
import heapq
import itertools
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slm_assets.synth.config import SynthConfig
from slm_assets.synth.gates import QuestionDeduper, gate_failure
from slm_assets.synth.offline_teacher import OfflineTeacher
from slm_assets.synth.prompts import TEMPLATES, Template
from slm_assets.synth.records import ChunkForSynth, TeacherResult
from slm_assets.synth.teachers import LLMTeacher
from slm_assets.teacher_client.client import TeacherError
from slm_assets.teacher_client.limits import TeacherLimits

log = logging.getLogger(__name__)
OFFLINE_TEMPLATE = Template("offline-rules", OfflineTeacher.template_version, "mixed", "derived from the text")


@dataclass
class GenerationSummary:
    accepted_total: int = 0
    accepted_new: int = 0
    rejected_new: int = 0
    calls_made: int = 0  # units answered and stored this run
    calls_skipped: int = 0  # already stored from an earlier run
    call_errors: int = 0  # failed attempts (each unit is retried once in the run)
    units_retried: int = 0  # units put back for a second try after a pause
    units_failed: int = 0  # units that failed twice: left for the next run
    teacher_requests: int = 0  # requests sent (generation, repair and judge; not the client's own retries)
    judge_calls: int = 0
    rate_limit_pauses: int = 0
    rate_limit_paused_s: float = 0.0
    prompt_tokens: int = 0  # every request of this run, stored or not
    completion_tokens: int = 0
    estimated_cost_usd: float = 0.0
    wall_s: float = 0.0
    stopped_because: str = ""
    reject_reasons: Counter = field(default_factory=Counter)
    question_types: Counter = field(default_factory=Counter)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class QAStore:
    """What the loop needs from storage; the warehouse implementation writes each call in one transaction."""

    def done_call_keys(self) -> set[str]: ...
    def accepted(self) -> list[tuple[str, str]]: ...  # (qa_id, question)
    def record(self, call_row: dict, pair_rows: list[dict]) -> None: ...


@dataclass
class Unit:
    chunk: ChunkForSynth
    template: Template
    key: str
    failures: int = 0


def teacher_templates(teacher: OfflineTeacher | LLMTeacher) -> list[Template]:
    """The templates a teacher is asked with: the offline rules, or the prompts of an LLM teacher."""
    return [OFFLINE_TEMPLATE] if isinstance(teacher, OfflineTeacher) else TEMPLATES


def call_key(domain: str, chunk: ChunkForSynth, template: Template, provider: str, model: str) -> str:
    raw = f"{domain}|{chunk.chunk_id}|{template.template_id}@{template.version}|{provider}|{model}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def work_units(chunks: list[ChunkForSynth], templates: list[Template], seed: int) -> Iterator[tuple[ChunkForSynth, Template]]:
    """Every chunk once with one template, then again with the next, ... (seeded order)."""
    order = list(chunks)
    random.Random(seed).shuffle(order)
    for rotation in range(len(templates)):
        for index, chunk in enumerate(order):
            yield chunk, templates[(index + rotation) % len(templates)]


def run_unit(unit: Unit, teacher: OfflineTeacher | LLMTeacher, config: SynthConfig,
             limits: TeacherLimits) -> TeacherResult:
    """One teacher call (and, when asked, one judge call over the pairs that pass the lexical gates)."""
    if isinstance(teacher, OfflineTeacher):
        return TeacherResult(pairs=teacher.pairs_for_chunk(unit.chunk))
    result = teacher.generate(unit.chunk, unit.template, config.pairs_per_call, limits=limits)
    if config.judge_groundedness and result.pairs:
        result.verdicts = {}
        candidates = [i for i, p in enumerate(result.pairs) if gate_failure(p, unit.chunk.text, config) is None]
        if candidates:
            verdicts, prompt_tokens, completion_tokens = teacher.judge(
                unit.chunk, [result.pairs[i] for i in candidates], limits=limits)
            result.verdicts = dict(zip(candidates, verdicts, strict=True))
            result.prompt_tokens += prompt_tokens
            result.completion_tokens += completion_tokens
    return result


def pair_id(unit: Unit, position: int, question: str) -> str:
    return hashlib.sha256(f"{unit.key}:{position}:{question}".encode()).hexdigest()[:16]


def judge_rejection(result: TeacherResult, position: int) -> str | None:
    """Why the judge rejects pair `position` (None: accepted, or no judge was asked)."""
    if result.verdicts is None:
        return None
    verdict = result.verdicts.get(position)
    return None if verdict else ("judge_unsupported" if verdict is False else "judge_no_verdict")


def pair_row(run: dict, unit: Unit, result: TeacherResult, pair, qa_id: str, reason: str | None,
             now: datetime) -> dict:
    """One `qa_pairs` row; the call's tokens and latency are shared evenly among its pairs.
    `run`: the columns every row of the run shares, {domain, teacher_provider, teacher_model, temperature, seed}."""
    n_pairs = max(1, len(result.pairs))
    return {
        "domain": run["domain"], "qa_id": qa_id, "status": "accepted" if reason is None else "rejected",
        "reject_reason": reason, "question": pair.question, "answer": pair.answer,
        "question_type": pair.question_type, "chunk_id": unit.chunk.chunk_id, "doc_id": unit.chunk.doc_id,
        "source": unit.chunk.source, "page_start": unit.chunk.page_start,
        "template_id": unit.template.template_id, "template_version": unit.template.version,
        **{k: run[k] for k in ("teacher_provider", "teacher_model", "temperature", "seed")},
        "prompt_tokens": result.prompt_tokens // n_pairs, "completion_tokens": result.completion_tokens // n_pairs,
        "latency_s": result.latency_s / n_pairs, "call_key": unit.key, "created_at": now,
    }


def call_row(domain: str, unit: Unit, result: TeacherResult, now: datetime) -> dict:
    """One `teacher_calls` row: the unit is done (a later run skips it)."""
    return {
        "domain": domain, "call_key": unit.key, "chunk_id": unit.chunk.chunk_id,
        "status": "invalid" if result.invalid and not result.pairs else "ok",
        "detail": "; ".join(result.invalid) or None, "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens, "latency_s": result.latency_s, "created_at": now,
    }


def stop_reason(summary: GenerationSummary, config: SynthConfig, halt: str, budget_spent: bool) -> str:
    if summary.accepted_total >= config.n_pairs:
        return f"target of {config.n_pairs} accepted pairs reached"
    if halt:
        return f"{halt}; {summary.accepted_total}/{config.n_pairs} pairs stored"
    if budget_spent:
        return (f"token budget of {config.token_budget} spent after {summary.tokens} "
                f"tokens; {summary.accepted_total}/{config.n_pairs} pairs stored, run again to continue")
    return (f"every chunk x template was tried: {summary.accepted_total}/{config.n_pairs} pairs "
            f"({summary.units_failed} units failed twice and will be retried on the next run)")


class QAGeneration:
    """One run of the loop: the queue of units (fresh, rate-limited, waiting for a retry), the summary, and the
    handling of each answered or failed call. `run` drives the thread pool."""

    def __init__(self, domain: str, chunks: list[ChunkForSynth], teacher: OfflineTeacher | LLMTeacher,
                 config: SynthConfig, store: QAStore, limits: TeacherLimits,
                 progress: Callable[[GenerationSummary], None] | None):
        self.domain, self.teacher, self.config, self.store = domain, teacher, config, store
        self.limits, self.progress = limits, progress
        self.summary = GenerationSummary()
        self.run_columns = {"domain": domain, "teacher_provider": teacher.provider, "teacher_model": teacher.model,
                            "temperature": getattr(teacher, "temperature", 0.0), "seed": config.seed}
        self.fresh = work_units(chunks, teacher_templates(teacher), config.seed)
        self.done = store.done_call_keys()
        self.deduper = QuestionDeduper()
        self.ready: deque[Unit] = deque()  # units to try again now (rate limited)
        self.later: list[tuple[float, int, Unit]] = []  # (due, tiebreak, unit): failed once, retried after a pause
        self.tiebreak = itertools.count()
        self.halt = ""  # set when the server makes going on pointless

    def load_stored(self) -> None:
        stored = self.store.accepted()
        for qa_id, question in stored:
            self.deduper.add(qa_id, question)
        self.summary.accepted_total = len(stored)

    def sync_usage(self) -> None:
        summary = self.summary
        summary.teacher_requests, summary.prompt_tokens, summary.completion_tokens = self.limits.totals()
        price_prompt, price_completion = getattr(self.teacher, "usd_per_million", (0.0, 0.0))
        summary.estimated_cost_usd = (summary.prompt_tokens * price_prompt
                                      + summary.completion_tokens * price_completion) / 1e6

    def rejection(self, unit: Unit, result: TeacherResult, position: int, pair) -> str | None:
        """Why a pair is rejected: a lexical gate, the judge, a near-duplicate question, or the target reached."""
        reason = gate_failure(pair, unit.chunk.text, self.config) or judge_rejection(result, position)
        if reason is None and (dup := self.deduper.duplicate_of(pair.question)):
            reason = f"near_duplicate_question (of {dup})"
        if reason is None and self.summary.accepted_total >= self.config.n_pairs:
            reason = "target_reached"
        return reason

    def count(self, qa_id: str, pair, reason: str | None) -> None:
        summary = self.summary
        if reason is None:
            summary.accepted_total += 1
            summary.accepted_new += 1
            summary.question_types[pair.question_type] += 1
            self.deduper.add(qa_id, pair.question)
        else:
            summary.rejected_new += 1
            summary.reject_reasons[reason.split(" ")[0]] += 1

    def handle(self, unit: Unit, result: TeacherResult) -> None:
        """Gate, deduplicate, count and store one answered call (on the calling thread, one at a time)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        self.summary.calls_made += 1
        self.summary.judge_calls += bool(result.verdicts)  # empty: nothing passed the gates, no call made
        rows = []
        for position, pair in enumerate(result.pairs):
            qa_id = pair_id(unit, position, pair.question)
            reason = self.rejection(unit, result, position, pair)
            self.count(qa_id, pair, reason)
            rows.append(pair_row(self.run_columns, unit, result, pair, qa_id, reason, now))
        self.store.record(call_row(self.domain, unit, result, now), rows)
        self.sync_usage()
        if self.progress:
            self.progress(self.summary)

    def budget_spent(self) -> bool:
        return self.config.token_budget is not None and sum(self.limits.totals()[1:]) >= self.config.token_budget

    def go_on(self) -> bool:
        return not self.halt and self.summary.accepted_total < self.config.n_pairs and not self.budget_spent()

    def next_unit(self) -> Unit | None:
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            self.ready.append(heapq.heappop(self.later)[2])
        if self.ready:
            return self.ready.popleft()
        for chunk, template in self.fresh:
            key = call_key(self.domain, chunk, template, self.teacher.provider, self.teacher.model)
            if key in self.done:
                self.summary.calls_skipped += 1
                continue
            return Unit(chunk, template, key)
        return None

    def failed(self, unit: Unit, exc: Exception) -> None:
        """A rate limit pauses every call and requeues the unit; another failure retries it once, later."""
        config, summary = self.config, self.summary
        if isinstance(exc, TeacherError) and exc.status == 429:
            pause = exc.retry_after if exc.retry_after is not None else config.retry_pause_s
            if pause > config.max_rate_limit_pause_s or summary.rate_limit_pauses >= config.max_rate_limit_pauses:
                self.halt = (f"rate limited: the server asked for {pause:.0f} s more "
                             f"({summary.rate_limit_pauses} pauses so far); run again later")
                return
            summary.rate_limit_pauses += 1
            summary.rate_limit_paused_s += pause
            log.warning("rate limited after the client's retries: pausing every call for %.1f s", pause)
            self.limits.pause(pause)
            self.ready.append(unit)
            return
        summary.call_errors += 1
        unit.failures += 1
        log.warning("teacher call for chunk %s failed (%d): %s", unit.chunk.chunk_id, unit.failures, exc)
        if unit.failures == 1:
            summary.units_retried += 1
            heapq.heappush(self.later, (time.monotonic() + config.retry_pause_s, next(self.tiebreak), unit))
        else:  # not stored as done: the next run tries it again
            summary.units_failed += 1

    def run(self, concurrency: int) -> None:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            pending: dict[Future, Unit] = {}
            while True:
                while self.go_on() and len(pending) < concurrency and (unit := self.next_unit()) is not None:
                    pending[pool.submit(run_unit, unit, self.teacher, self.config, self.limits)] = unit
                if not pending:
                    if self.go_on() and self.later:  # only retries left: wait for the first to fall due
                        time.sleep(max(0.0, self.later[0][0] - time.monotonic()))
                        continue
                    break
                # wake for a retry falling due only when a worker is free to take it (else: no busy loop)
                free = len(pending) < concurrency and self.go_on()
                timeout = max(0.0, self.later[0][0] - time.monotonic()) if self.later and free else None
                finished, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in finished:
                    unit = pending.pop(future)
                    try:
                        result = future.result()
                    except (TeacherError, TimeoutError, OSError) as exc:
                        self.failed(unit, exc)
                        continue
                    self.handle(unit, result)


def generate_qa(
    domain: str,
    chunks: list[ChunkForSynth],
    teacher: OfflineTeacher | LLMTeacher,
    config: SynthConfig,
    store: QAStore,
    concurrency: int = 1,
    progress: Callable[[GenerationSummary], None] | None = None,
    limits: TeacherLimits | None = None,
) -> GenerationSummary:
    """Generate until `config.n_pairs` pairs are accepted (stored ones count), the corpus runs out, the
    token budget is spent or the server keeps refusing. `limits` defaults to the config's per-minute limits."""
    started = time.monotonic()
    limits = limits or TeacherLimits.per_minute(config.requests_per_minute, config.tokens_per_minute)
    generation = QAGeneration(domain, chunks, teacher, config, store, limits, progress)
    generation.load_stored()
    summary = generation.summary
    if summary.accepted_total >= config.n_pairs:
        summary.stopped_because = "target already reached by stored pairs"
        return summary
    generation.run(concurrency)
    generation.sync_usage()
    summary.wall_s = time.monotonic() - started
    summary.stopped_because = stop_reason(summary, config, generation.halt, generation.budget_spent())
    return summary
