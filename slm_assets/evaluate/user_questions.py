"""Evaluate base and the domain's latest model on questions a user supplies (JSONL), with the benchmark's report.

One JSON object per line: `question` and `answer` (the reference), and optionally
- `context`: passage(s) the model is shown with the question (asked open book, as the serving path does),
- `evidence`: passage(s) that support the answer but are not shown to the model,
- `source`: the document that answers it (a file name or path; retrieval recall is measured against it),
- `answerable`: false for a question the documents do not answer (default: true unless the reference itself says
  "The documents do not say."),
- `id` and `split` (`dev` | `holdout`), as in the gold question sets under `domains/gold/`.
`context` or `evidence` (a string or a list of strings) is the source text groundedness is measured against.

The latest model is the newest export bundle (`export/run-*/merged`, a full HF model, with its GGUF timed in
llama.cpp) or, when nothing was exported yet, the LoRA adapter on the base model. Used by `slm-assets eval`
and the `evaluate_questions` job.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from slm_assets.progress import progress_line
from slm_assets.text import is_abstention

log = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 10


class QuestionsError(ValueError):
    """A questions file that cannot be used; the message names the file and the line."""


class NoTrainedModel(RuntimeError):
    """The domain has neither an export bundle nor a LoRA adapter."""


def _passages(value, path: Path, lineno: int, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise QuestionsError(f"{path}:{lineno}: `{key}` must be a string or a list of strings, got {type(value).__name__}")


def read_questions(path: Path) -> list[dict]:
    """Validated rows: {line, question, answer, context: [str], evidence: [str]}. Every bad line is reported (up to
    ten), each as `<file>:<line>: <what is wrong>`."""
    path = Path(path)
    if not path.exists():
        raise QuestionsError(f"{path}: no such file")
    if not path.is_file():
        raise QuestionsError(f"{path}: not a file (expected JSONL: one JSON object per line)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise QuestionsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    rows, problems = [], []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{path}:{lineno}: expected a JSON object with `question` and `answer`, "
                            f"got {type(obj).__name__}")
            continue
        missing = [k for k in ("question", "answer") if not isinstance(obj.get(k), str) or not obj[k].strip()]
        if missing:
            problems.append(f"{path}:{lineno}: missing or empty {' and '.join(f'`{k}`' for k in missing)} "
                            "(each line needs `question` and `answer`; `context` or `evidence` are optional)")
            continue
        try:
            context = _passages(obj.get("context"), path, lineno, "context")
            evidence = _passages(obj.get("evidence"), path, lineno, "evidence")
        except QuestionsError as exc:
            problems.append(str(exc))
            continue
        rows.append({"line": lineno, "question": obj["question"].strip(), "answer": obj["answer"].strip(),
                     "context": context, "evidence": evidence, "source": obj.get("source") or None,
                     "answerable": bool(obj.get("answerable", not is_abstention(obj["answer"]))),
                     "id": str(obj.get("id") or f"line-{lineno:05d}"), "split": obj.get("split", "dev")})
    if problems:
        more = len(problems) - MAX_REPORTED_PROBLEMS
        raise QuestionsError("\n".join(problems[:MAX_REPORTED_PROBLEMS]) + (f"\n... and {more} more" if more > 0 else ""))
    if not rows:
        raise QuestionsError(f"{path}: no questions (expected one JSON object per line with `question` and `answer`)")
    return rows


def to_test_rows(questions: list[dict], system_prompt: str, source_name: str) -> tuple[list[dict], dict[str, str]]:
    """Rows shaped like the SFT test split, and the source text per row that has context or evidence.

    qa_id `line-00012` keeps the file's order (the benchmark sorts by qa_id) and points back to the line.
    """
    from slm_assets.retrieval.prompting import open_book_question

    rows, texts = [], {}
    for q in questions:
        qa_id = f"line-{q['line']:05d}"
        user = open_book_question(q["question"], q["context"]) if q["context"] else q["question"]
        source = q["context"] + q["evidence"]
        if source:
            texts[qa_id] = "\n\n".join(source)
        rows.append({"qa_id": qa_id, "doc_id": q.get("source") or source_name, "chunk_id": qa_id if source else None,
                     "source": q.get("source"), "answerable": q.get("answerable", True), "gold_id": q.get("id"),
                     "split": q.get("split", "dev"), "question": q["question"], "mode": "open_book" if q["context"] else "closed_book",
                     "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}],
                     "completion": [{"role": "assistant", "content": q["answer"]}]})
    return rows, texts


@dataclass(frozen=True)
class LatestModel:
    kind: str  # bundle | adapter
    path: Path  # the merged HF model directory, or the adapter directory
    gguf: Path | None  # the bundle's GGUF, timed in llama.cpp


def latest_model(artifacts_dir: Path, domain: str) -> LatestModel:
    """The newest export bundle with a merged model, else the LoRA adapter."""
    from slm_assets.artifacts import latest_run_dir, newest_export_bundle, served_gguf

    domain_dir = Path(artifacts_dir) / domain
    bundle = newest_export_bundle(domain_dir, "merged/config.json")
    if bundle is not None:
        return LatestModel("bundle", bundle / "merged", served_gguf(bundle))
    adapter = latest_run_dir(domain_dir / "lora") / "adapter"
    if (adapter / "adapter_config.json").exists():
        return LatestModel("adapter", adapter, None)
    raise NoTrainedModel(f"no trained model for domain {domain!r}: no export bundle under {domain_dir / 'export'} "
                         f"and no LoRA adapter in {adapter}; materialise lora_adapter (or the whole graph) first")


def default_out_dir(artifacts_dir: Path, domain: str, questions_path: Path) -> Path:
    """artifacts/<domain>/user_eval/<file stem>: a rerun on the same file replaces its report."""
    return Path(artifacts_dir) / domain / "user_eval" / Path(questions_path).stem


def evaluate_user_questions(spec, questions_path: Path, artifacts_dir: Path, models_cache: Path,
                            out_dir: Path | None = None, roles: dict | None = None, domain_data=None,
                            write_gguf=None):
    """Validate the file, load base and the latest model, run the benchmark's evaluation on every question.

    `domain_data` (domain_benchmark.DomainData: the domain's index, chunks and document sources): each question is
    also asked open book and as served, through the domain's index, beside the bm25_sentence baseline.

    `spec` is the DomainSpec; `roles` the teacher's parts (`teacher_answers.teacher_roles`: the LLM judge or why
    there is none, the teacher as a compared answerer, notes); `write_gguf` as in EvaluationRequest, for latency
    when the latest model has no GGUF. Returns an Evaluation.
    """
    from slm_assets.evaluate.run import EvaluationRequest, run_evaluation
    from slm_assets.models import load_tokenizer, load_tuned_model

    questions_path = Path(questions_path)
    questions = read_questions(questions_path)  # before any model is loaded: bad input fails in a second
    rows, texts = to_test_rows(questions, spec.system_prompt, questions_path.name)
    latest = latest_model(artifacts_dir, spec.name)
    out_dir = Path(out_dir) if out_dir else default_out_dir(artifacts_dir, spec.name, questions_path)
    log.info("evaluating %d questions from %s: base %s vs %s %s", len(rows), questions_path, spec.base_model,
             latest.kind, latest.path)
    tokenizer = load_tokenizer(spec.base_model, models_cache)
    base = load_tuned_model(spec.base_model, models_cache, None)
    if latest.kind == "bundle":
        tuned = load_tuned_model(str(latest.path), models_cache, None)
    else:
        tuned = load_tuned_model(spec.base_model, models_cache, latest.path)
    config = spec.benchmark.model_copy(update={"max_questions": None})
    n_open = sum(r["mode"] == "open_book" for r in rows)
    intro = (f"{len(rows)} user-supplied questions from `{questions_path}` ({n_open} asked with their `context`), "
             f"greedy decoding; `tuned` is the latest {latest.kind}.")
    open_book, answerers = None, dict((roles or {}).get("answerers") or {})
    if domain_data is not None:
        from slm_assets.evaluate.baselines import BestSentenceAnswerer
        from slm_assets.evaluate.benchmark import OpenBook

        answerers["bm25_sentence"] = BestSentenceAnswerer(domain_data.chunk_texts)
        open_book = OpenBook(domain_data.index, spec.split.context.k_retrieve, ("base", "tuned"), spec.grounding,
                             domain_data.doc_sources)
        intro += " Each is also asked open book through the domain's index and as served (grounding check)."
    return run_evaluation(EvaluationRequest(
        {"base": base, "tuned": tuned}, tokenizer, rows, config, out_dir, f"{spec.name}: {questions_path.name}",
        chunk_texts=texts, gguf_path=latest.gguf, write_gguf=write_gguf,
        gguf_qtype=spec.export.quantizations[0] if spec.export.quantizations else None,
        sources={"base": spec.base_model, "tuned": str(latest.path)}, intro=intro,
        progress=lambda fraction, what: log.info(progress_line(fraction, what)), open_book=open_book,
        **{**(roles or {}), "answerers": answerers or None}))
