"""The QA generation loop: resumable, persisting every pair the moment it arrives.

Work is split into units (chunk x template). A unit's key hashes the chunk, the template and
version, and the teacher; a unit whose key is stored in `teacher_calls` is never called again,
so a killed run resumes without repeating paid calls and without duplicating pairs.
"""

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slm_assets.synth.config import SynthConfig
from slm_assets.synth.gates import QuestionDeduper, gate_failure
from slm_assets.synth.offline_teacher import OfflineTeacher
from slm_assets.synth.prompts import TEMPLATES, Template
from slm_assets.synth.records import ChunkForSynth, TeacherResult
from slm_assets.synth.teachers import ChatTeacher, TeacherError

log = logging.getLogger(__name__)
OFFLINE_TEMPLATE = Template("offline-rules", OfflineTeacher.template_version, "mixed", "derived from the text")


@dataclass
class GenerationSummary:
    accepted_total: int = 0
    accepted_new: int = 0
    rejected_new: int = 0
    calls_made: int = 0
    calls_skipped: int = 0  # already stored from an earlier run
    call_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped_because: str = ""
    reject_reasons: Counter = field(default_factory=Counter)
    question_types: Counter = field(default_factory=Counter)


class QAStore:
    """What the loop needs from storage; the warehouse implementation writes each call in one transaction."""

    def done_call_keys(self) -> set[str]: ...
    def accepted(self) -> list[tuple[str, str]]: ...  # (qa_id, question)
    def record(self, call_row: dict, pair_rows: list[dict]) -> None: ...


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


def generate_qa(
    domain: str,
    chunks: list[ChunkForSynth],
    teacher: OfflineTeacher | ChatTeacher,
    config: SynthConfig,
    store: QAStore,
    concurrency: int = 1,
    progress: Callable[[GenerationSummary], None] | None = None,
) -> GenerationSummary:
    summary = GenerationSummary()
    provider, model = teacher.provider, teacher.model
    temperature = getattr(teacher, "temperature", 0.0)
    templates = [OFFLINE_TEMPLATE] if isinstance(teacher, OfflineTeacher) else TEMPLATES
    done = store.done_call_keys()
    deduper = QuestionDeduper()
    stored = store.accepted()
    for qa_id, question in stored:
        deduper.add(qa_id, question)
    summary.accepted_total = len(stored)
    if summary.accepted_total >= config.n_pairs:
        summary.stopped_because = "target already reached by stored pairs"
        return summary

    def run_unit(chunk: ChunkForSynth, template: Template) -> TeacherResult:
        if isinstance(teacher, OfflineTeacher):
            return TeacherResult(pairs=teacher.pairs_for_chunk(chunk))
        return teacher.generate(chunk, template, config.pairs_per_call)

    def handle(chunk: ChunkForSynth, template: Template, key: str, result: TeacherResult | Exception) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        if isinstance(result, Exception):
            summary.call_errors += 1
            log.warning("teacher call for chunk %s failed: %s", chunk.chunk_id, result)
            # errors are not stored as done: a later run retries them
            return
        summary.calls_made += 1
        summary.prompt_tokens += result.prompt_tokens
        summary.completion_tokens += result.completion_tokens
        rows = []
        n_pairs = max(1, len(result.pairs))
        for position, pair in enumerate(result.pairs):
            qa_id = hashlib.sha256(f"{key}:{position}:{pair.question}".encode()).hexdigest()[:16]
            reason = gate_failure(pair, chunk.text, config)
            if reason is None and (dup := deduper.duplicate_of(pair.question)):
                reason = f"near_duplicate_question (of {dup})"
            if reason is None and summary.accepted_total >= config.n_pairs:
                reason = "target_reached"
            if reason is None:
                summary.accepted_total += 1
                summary.accepted_new += 1
                summary.question_types[pair.question_type] += 1
                deduper.add(qa_id, pair.question)
            else:
                summary.rejected_new += 1
                summary.reject_reasons[reason.split(" ")[0]] += 1
            rows.append({
                "domain": domain, "qa_id": qa_id, "status": "accepted" if reason is None else "rejected",
                "reject_reason": reason, "question": pair.question, "answer": pair.answer,
                "question_type": pair.question_type, "chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id,
                "source": chunk.source, "page_start": chunk.page_start, "template_id": template.template_id,
                "template_version": template.version, "teacher_provider": provider, "teacher_model": model,
                "temperature": temperature, "seed": config.seed,
                "prompt_tokens": result.prompt_tokens // n_pairs, "completion_tokens": result.completion_tokens // n_pairs,
                "latency_s": result.latency_s / n_pairs, "call_key": key, "created_at": now,
            })
        call_row = {
            "domain": domain, "call_key": key, "chunk_id": chunk.chunk_id,
            "status": "invalid" if result.invalid and not result.pairs else "ok",
            "detail": "; ".join(result.invalid) or None, "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens, "latency_s": result.latency_s, "created_at": now,
        }
        store.record(call_row, rows)
        if progress:
            progress(summary)

    def budget_spent() -> bool:
        return config.token_budget is not None and summary.prompt_tokens + summary.completion_tokens >= config.token_budget

    units = work_units(chunks, templates, config.seed)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: dict[Future, tuple] = {}
        exhausted = False
        while True:
            while not exhausted and len(pending) < concurrency and summary.accepted_total < config.n_pairs and not budget_spent():
                try:
                    chunk, template = next(units)
                except StopIteration:
                    exhausted = True
                    break
                key = call_key(domain, chunk, template, provider, model)
                if key in done:
                    summary.calls_skipped += 1
                    continue
                pending[pool.submit(run_unit, chunk, template)] = (chunk, template, key)
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk, template, key = pending.pop(future)
                try:
                    result = future.result()
                except (TeacherError, TimeoutError, OSError) as exc:
                    result = exc
                handle(chunk, template, key, result)
    if summary.accepted_total >= config.n_pairs:
        summary.stopped_because = f"target of {config.n_pairs} accepted pairs reached"
    elif budget_spent():
        summary.stopped_because = (
            f"token budget of {config.token_budget} spent after {summary.prompt_tokens + summary.completion_tokens} "
            f"tokens; {summary.accepted_total}/{config.n_pairs} pairs stored, run again to continue"
        )
    else:
        summary.stopped_because = (
            f"every chunk x template was tried: {summary.accepted_total}/{config.n_pairs} pairs "
            f"({summary.call_errors} calls failed and will be retried on the next run)"
        )
    return summary


