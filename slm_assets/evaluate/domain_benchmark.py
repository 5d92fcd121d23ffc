"""A domain's benchmark: the gold questions (when the domain has them) and the synthetic test split.

With `benchmark.gold_questions`, the human-written questions are the first table and the gate decides on them;
the synthetic test split (questions made by the teacher from held-out documents) is a second table, smaller and
without latency runs, because a model that learned the teacher's phrasing scores well on it. Every model is asked
closed book, open book and as served; `bm25_sentence` (the best-matching corpus sentence, no model) is scored
beside them.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from slm_assets.evaluate.baselines import BestSentenceAnswerer
from slm_assets.evaluate.benchmark import OpenBook
from slm_assets.evaluate.champion import ModelsToScore
from slm_assets.evaluate.run import Evaluation, EvaluationRequest, run_evaluation
from slm_assets.evaluate.user_questions import read_questions, to_test_rows
from slm_assets.settings import PROJECT_ROOT

GOLD_SHARE = 0.85  # of a domain benchmark's work, for progress: the gold table has ~7x the synthetic one's questions


@dataclass
class DomainData:
    """What the benchmark reads of a domain besides the models."""

    test_rows: list[dict]  # the synthetic test split
    index: object  # retrieval.index.ChunkIndex or None
    chunk_texts: dict[str, str]
    doc_sources: dict[str, str]

    @classmethod
    def read(cls, con, domain: str, index, test_rows: list[dict] | None = None) -> "DomainData":
        """The domain's chunk texts and document sources from the warehouse connection `con`, beside its retrieval
        index (None: closed book only) and the synthetic test rows (none when only user questions are asked)."""
        from slm_assets.warehouse import chunk_texts, document_sources

        return cls(test_rows=list(test_rows or []), index=index, chunk_texts=chunk_texts(con, domain),
                   doc_sources=document_sources(con, domain))


def gold_path(spec) -> Path | None:
    path = spec.benchmark.gold_questions
    if path is None:
        return None
    return path if Path(path).is_absolute() else PROJECT_ROOT / path


def gold_rows(path: Path, system_prompt: str, split: str | None = None) -> tuple[list[dict], dict[str, str]]:
    """Benchmark rows of a gold file (all, or one `split`), and the evidence text per row for groundedness."""
    questions = read_questions(path)
    if split is not None:
        questions = [q for q in questions if q["split"] == split]
    return to_test_rows(questions, system_prompt, path.name)


def run_domain_benchmark(spec, scored: ModelsToScore, tokenizer, data: DomainData, out_dir: Path, roles: dict,
                         write_gguf=None,
                         progress: Callable[[float, str], None] | None = None) -> tuple[Evaluation, Evaluation | None]:
    """(the evaluation the gate uses, the synthetic second table or None). `scored`: champion.load_models_to_score
    (the re-scored champion is one of its models when it loaded); `roles`: teacher_roles(...); `write_gguf`:
    EvaluationRequest.write_gguf (the best model's GGUF for latency); `progress(fraction, what)` follows both
    tables (the gold one is the first GOLD_SHARE of the work)."""
    models = scored.models
    baseline = {"bm25_sentence": BestSentenceAnswerer(data.chunk_texts)}
    title = f"{spec.name} ({spec.topic})"
    open_book = (OpenBook(data.index, spec.split.context.k_retrieve, tuple(models), spec.grounding, data.doc_sources)
                 if data.index is not None else None)
    common = EvaluationRequest(
        models, tokenizer, data.test_rows, spec.benchmark, out_dir, title, open_book=open_book,
        chunk_texts=data.chunk_texts, sources=scored.sources, write_gguf=write_gguf,
        gguf_qtype=spec.export.quantizations[0] if spec.export.quantizations else None,
        progress=progress)
    with_teacher = replace(common, **{**roles, "answerers": {**(roles.get("answerers") or {}), **baseline}},
                           champion=scored.champion)
    gold = gold_path(spec)
    if gold is None:
        return run_evaluation(with_teacher), None
    rows, evidence = gold_rows(gold, spec.system_prompt)
    intro = (f"{len(rows)} human-written gold questions from `{gold.name}` "
             f"({sum(not r['answerable'] for r in rows)} that the documents do not answer), greedy decoding.")
    main = run_evaluation(replace(with_teacher, rows=rows, config=replace_config(spec.benchmark, max_questions=None),
                                  chunk_texts=evidence, intro=intro, progress=part_of(progress, 0.0, GOLD_SHARE)))
    synthetic_config = replace_config(spec.benchmark, max_questions=spec.benchmark.synthetic_max_questions,
                                      latency_prompts=0, llm_judge=False)
    synthetic = run_evaluation(replace(
        common, config=synthetic_config, out_dir=out_dir / "synthetic", title=f"{title}: synthetic test split",
        progress=part_of(progress, GOLD_SHARE, 1.0),
        answerers=baseline, intro="Questions made by the teacher from held-out documents (the training "
        "distribution: a model that parrots its templates scores well here)."))
    return main, synthetic


def part_of(progress: Callable[[float, str], None] | None, start: float, end: float):
    """`progress` for one part of the work: its fractions mapped onto [start, end]."""
    if progress is None:
        return None
    return lambda fraction, what: progress(start + (end - start) * fraction, what)


def replace_config(config, **changes):
    return config.model_copy(update=changes)

