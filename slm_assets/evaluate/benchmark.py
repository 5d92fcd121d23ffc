"""Base vs fine-tuned vs distilled on held-out questions: the domain's gold questions, or the document-disjoint
synthetic test split.

Each model is asked closed book; the models named in `open_book` are also asked with retrieved passages
(`<name>_open_book`, the model's own text) and served as the server serves them (`<name>_served`: the same
answers after the grounding check of retrieval/grounding.py). Every row carries the behaviour a user sees
besides the text scores: how often an answer restates the question (echo rate), and on questions the documents
do not answer, how often the model says so.
"""

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from slm_assets.evaluate.champion import CHAMPION
from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.metrics import corpus_bleu, score_pair, token_f1
from slm_assets.evaluate.semantic import semantic_similarity
from slm_assets.generation import BatchedAnswers
from slm_assets.losses import answer_loss, encode_chat
from slm_assets.text import is_abstention, is_echo, rate, support_score

METRICS = ["rouge_l", "bleu", "exact_match", "token_f1", "semantic_similarity"]


@dataclass
class ModelScores:
    name: str
    rouge_l: float
    bleu: float  # corpus BLEU, 0-1
    exact_match: float
    token_f1: float
    semantic_similarity: float  # cosine, all-MiniLM-L6-v2
    groundedness: float  # share of the answer's content words found in the source chunk
    perplexity: float  # of the reference answers, closed book (nan for API models, open-book and served rows)
    mean_latency_s: float
    p95_latency_s: float
    tokens_per_s: float
    echo_rate: float = 0.0  # share of answers that mostly restate the question (text.is_echo)
    abstain_unanswerable: float = float("nan")  # share of unanswerable questions answered "the documents do not say"
    answered_answerable: float = float("nan")  # share of answerable questions answered (not abstained)


@dataclass(frozen=True)
class OpenBook:
    """How models are also asked open book: through which index, how many passages, which models, and the
    grounding check that turns their answers into what the server would send."""

    index: object  # retrieval.index.ChunkIndex
    k: int = 2  # passages retrieved per question
    models: tuple[str, ...] = ("base", "lora_adapter")  # asked open book (as `<name>_open_book`), when present
    grounding: object = None  # retrieval.config.GroundingConfig: also scored as served (`<name>_served`)
    doc_sources: dict[str, str] | None = None  # doc_id -> stored source, for the recall of gold questions


@dataclass
class BenchmarkResult:
    n_questions: int
    models: dict[str, ModelScores]
    rows: list[dict] = field(default_factory=list)  # per question: question, reference, answers, scores
    judge: dict[str, dict] = field(default_factory=dict)  # reference-based pairwise judge (reference_f1) vs base
    retrieval_recall_at_k: float | None = None  # is the source chunk among the passages retrieved
    retrieval_k: int | None = None
    llm_judge: dict[str, dict] = field(default_factory=dict)  # judge.py: model -> summary, under the judge's name
    latency: dict | None = None  # latency.py: measure_latency's result
    sources: dict[str, str] = field(default_factory=dict)  # model name -> what it was loaded from
    notes: list[str] = field(default_factory=list)  # what was skipped and why, for the report
    external: list[str] = field(default_factory=list)  # models answered through an API (the teacher): compared only

    def as_dict(self) -> dict:
        return {"n_questions": self.n_questions, "models": {k: asdict(v) for k, v in self.models.items()},
                "judge": self.judge, "retrieval_recall_at_k": self.retrieval_recall_at_k,
                "retrieval_k": self.retrieval_k, "llm_judge": self.llm_judge, "latency": self.latency,
                "sources": self.sources, "notes": self.notes, "external_models": self.external}


def reference_judge(rows: list[dict], challenger: str, baseline: str, margin: float = 0.05) -> dict:
    """A reference-based pairwise judge: the answer with clearly higher token F1 to the reference wins.

    Not an LLM judge; reported under its own name.
    """
    wins = losses = ties = 0
    for row in rows:
        a = token_f1(row[f"{challenger}_answer"], row["reference"])
        b = token_f1(row[f"{baseline}_answer"], row["reference"])
        if a > b + margin:
            wins += 1
        elif b > a + margin:
            losses += 1
        else:
            ties += 1
    n = max(1, len(rows))
    return {"judge": "reference_f1", "wins": wins, "losses": losses, "ties": ties, "win_rate": wins / n,
            "performance_ratio": wins / losses if losses else (math.inf if wins else 1.0)}


def question_of(row: dict) -> str:
    return row.get("question") or row["prompt"][-1]["content"]


def retrieved(row: dict, hits: list, doc_sources: dict[str, str] | None) -> bool:
    """Is the row's source among the hits: its chunk (synthetic questions) or its document (gold questions, whose
    `source` is a file name or path that the document's stored source ends with)."""
    if not row.get("source"):
        return row["chunk_id"] in {h.chunk_id for h in hits}
    wanted = row["source"].replace("\\", "/").split("/")[-1]
    return any((doc_sources or {}).get(h.doc_id, "").endswith(wanted) for h in hits)


@dataclass
class OpenBookQuestions:
    """The benchmark questions asked open book, as the server asks them: each prompt with its top-k retrieved
    passages, the passages, their stored embeddings (what the server's grounding check reads; None for a BM25-only
    index), and recall@k over the rows that have a source (None when none has)."""

    prompts: list[list[dict]]
    passages: list[list[str]]
    passage_vectors: list
    recall: float | None


def open_book_prompts(rows: list[dict], index, k: int, doc_sources: dict[str, str] | None = None) -> OpenBookQuestions:
    from slm_assets.retrieval.prompting import open_book_question

    prompts, passages, vectors, found, answerable = [], [], [], 0, 0
    for row in rows:
        question = question_of(row)
        hits = index.search(question, k)
        if row.get("answerable", True) and (row.get("chunk_id") or row.get("source")):
            answerable += 1
            found += retrieved(row, hits, doc_sources)
        passages.append([h.text for h in hits])
        vectors.append(index.vectors(hits) if hits else None)
        prompts.append(row["prompt"][:-1] + [{"role": "user", "content": open_book_question(question, passages[-1])}])
    return OpenBookQuestions(prompts, passages, vectors, found / answerable if answerable else None)


def behaviour(rows: list[dict], answers: list[str]) -> dict[str, float]:
    """Echo rate over all rows; abstention on unanswerable rows and answering on answerable ones (nan without)."""
    unanswerable = [is_abstention(a) for r, a in zip(rows, answers, strict=True) if not r.get("answerable", True)]
    answerable = [not is_abstention(a) for r, a in zip(rows, answers, strict=True) if r.get("answerable", True)]
    return {"echo_rate": rate([is_echo(question_of(r), a) for r, a in zip(rows, answers, strict=True)]),
            "abstain_unanswerable": rate(unanswerable) if unanswerable else float("nan"),
            "answered_answerable": rate(answerable) if answerable else float("nan")}


@dataclass
class Variant:
    """One row of the report: a model (or an API answerer) and the prompts it is asked."""

    name: str
    model: object
    prompts: list[list[dict]]
    book: OpenBookQuestions | None = None  # the retrieved passages behind `prompts` (open book)
    external: bool = False


def submit_local_variants(variants: list[Variant], batched) -> dict[str, object]:
    """Each local model's prompts queued on `batched` (generation.BatchedAnswers) in the order of `variants`:
    name -> PendingAnswers. API answerers are asked when their turn comes."""
    return {v.name: batched.submit(v.model, v.prompts) for v in variants if not v.external}


def reference_perplexity(model, tokenizer, prompts: list[list[dict]], references: list[str]) -> float:
    examples = [encode_chat(tokenizer, p, ref, 768) for p, ref in zip(prompts, references, strict=True)]
    return math.exp(answer_loss(model, examples, tokenizer.pad_token_id, str(next(model.parameters()).device)))


def score_answers(name: str, generated: list, rows: list[dict], table: list[dict],
                  chunk_texts: dict[str, str] | None, perplexity: float) -> ModelScores:
    """Text scores, groundedness and behaviour of one variant's answers; per-question values go into `table`."""
    references = [row["reference"] for row in table]
    answers = [g.text for g in generated]
    per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
    for row, answer in zip(table, answers, strict=True):
        row[f"{name}_answer"] = answer
        for metric, value in score_pair(answer, row["reference"]).items():
            row[f"{name}_{metric}"] = round(value, 4)
            per_metric[metric].append(value)
    similarity = semantic_similarity(answers, references)
    # groundedness only where the source text is known (user questions may come without context)
    sources = [(chunk_texts or {}).get(r.get("chunk_id")) for r in rows]
    grounded = [support_score(a, src) if src else None for a, src in zip(answers, sources, strict=True)]
    for row, sim, gr, answer, source in zip(table, similarity, grounded, answers, rows, strict=True):
        row[f"{name}_semantic_similarity"] = round(sim, 4)
        row[f"{name}_groundedness"] = round(gr, 4) if gr is not None else None
        row[f"{name}_echo"] = is_echo(question_of(source), answer)
    known = [g for g in grounded if g is not None]
    latencies = sorted(g.latency_s for g in generated)
    return ModelScores(
        name=name, rouge_l=statistics.fmean(per_metric["rouge_l"]), bleu=corpus_bleu(answers, references),
        exact_match=statistics.fmean(per_metric["exact_match"]), token_f1=statistics.fmean(per_metric["token_f1"]),
        semantic_similarity=statistics.fmean(similarity), groundedness=statistics.fmean(known) if known else math.nan,
        perplexity=perplexity, mean_latency_s=statistics.fmean(latencies),
        p95_latency_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        tokens_per_s=sum(g.new_tokens for g in generated) / max(1e-9, sum(latencies)), **behaviour(rows, answers))


def coverage_of(rows: list[dict], passages: list[list[str]], grounding, passage_vectors: list | None = None) -> list:
    """Each question's coverage signals over its passages (grounding.coverage_signals, from the passages' stored
    vectors when given, as the server does), or None where the grounding check does not read them: computed once
    and shared by every model's served answers."""
    from slm_assets.retrieval.grounding import coverage_signals

    vectors = passage_vectors or [None] * len(rows)
    return [coverage_signals(question_of(row), found, grounding.dense, known) if grounding.enabled and found else None
            for row, found, known in zip(rows, passages, vectors, strict=True)]


def served_answers(rows: list[dict], generated: list, passages: list[list[str]], grounding,
                   coverage: list | None = None) -> list:
    """The open-book answers after the server's grounding check (kept, extractive fallback, or abstention).
    `coverage`: coverage_of(rows, passages, grounding, ...), when the caller grounds several models' answers."""
    from slm_assets.generation import Generated
    from slm_assets.retrieval.grounding import ground_answer

    coverage = coverage or coverage_of(rows, passages, grounding)
    out = []
    for row, gen, found, signals in zip(rows, generated, passages, coverage, strict=True):
        reply = ground_answer(question_of(row), gen.text, found, grounding, signals=signals)
        out.append(Generated(text=reply.text, latency_s=gen.latency_s, new_tokens=gen.new_tokens))
    return out


def build_variants(models: dict, rows: list[dict], open_book: OpenBook | None,
                   answerers: dict) -> tuple[list[Variant], OpenBookQuestions | None]:
    prompts = [r["prompt"] for r in rows]
    variants = [Variant(name, model, prompts) for name, model in models.items()]
    book = None
    if open_book is not None:
        book = open_book_prompts(rows, open_book.index, open_book.k, open_book.doc_sources)
        variants += [Variant(f"{name}_open_book", models[name], book.prompts, book)
                     for name in open_book.models if name in models]
    variants += [Variant(name, answer, prompts, external=True) for name, answer in answerers.items()]
    return variants, book


def evaluate_models(models: dict, tokenizer, test_rows: list[dict], config: BenchmarkConfig,
                    open_book: OpenBook | None = None, chunk_texts: dict[str, str] | None = None,
                    answerers: dict | None = None,
                    progress: Callable[[float, str], None] | None = None) -> BenchmarkResult:
    """`models` maps a name (base, lora_adapter, distilled_model) to a loaded causal LM. With `open_book`, the
    models it names are also asked with top-k retrieved passages, as `<name>_open_book`, and with its `grounding`
    their answers are also scored as served (`<name>_served`). `chunk_texts`: the source text of each question, for
    groundedness. `answerers` maps a name (the teacher, the bm25_sentence baseline) to a callable that answers
    chat prompts without a local model: scored on the answers alone, never a gate candidate; one that fails is left
    out with a note. `progress(fraction done, what was done)` is called after each variant is scored, with the
    seconds it took to generate (local models: from its first batch's start to its last batch's end; the next
    variants generate in the background meanwhile, `config.generation_workers` batches at once).

    Greedy decoding under a fixed torch seed (`config.seed`), so the same inputs give the same numbers; only the
    timing fields differ between runs.
    """
    import torch

    from slm_assets.evaluate.teacher_answers import TeacherAnswersFailed

    rows = sorted(test_rows, key=lambda r: r["qa_id"])
    if config.max_questions:
        rows = rows[: config.max_questions]
    table = [{"qa_id": r["qa_id"], "doc_id": r["doc_id"], "question": question_of(r),
              "reference": r["completion"][0]["content"], "answerable": r.get("answerable", True)} for r in rows]
    answerers = answerers or {}
    variants, book = build_variants(models, rows, open_book, answerers)
    grounding = open_book.grounding if open_book is not None else None
    scores: dict[str, ModelScores] = {}
    notes: list[str] = []
    # greedy under a fixed torch seed (the global generator left as it was); later variants generate in the
    # background while one is scored
    with torch.random.fork_rng(devices=[]), BatchedAnswers(tokenizer, config.max_new_tokens, config.batch_size,
                                                           config.generation_workers) as batched:
        torch.manual_seed(config.seed)
        pending = submit_local_variants(variants, batched)
        # computed while the models generate: the open-book questions' coverage over their passages, which every
        # open-book variant's served answers share
        coverage = (coverage_of(rows, book.passages, grounding, book.passage_vectors)
                    if grounding is not None and any(v.book is not None for v in variants) else None)
        for done, variant in enumerate(variants, 1):
            started = time.monotonic()
            try:
                generated = variant.model(variant.prompts) if variant.external else pending[variant.name].result()
            except TeacherAnswersFailed as exc:
                notes.append(f"{variant.name} not compared: {exc}")
                continue
            seconds = pending[variant.name].seconds if variant.name in pending else time.monotonic() - started
            scores.update(scored_variant(variant, generated, rows, table, tokenizer, config, chunk_texts, grounding,
                                         coverage))
            if progress:
                progress(done / len(variants), f"{variant.name}: {len(rows)} questions in {seconds:.0f} s")
    recall = book.recall if book is not None else None
    result = BenchmarkResult(n_questions=len(rows), models=scores, rows=table, retrieval_recall_at_k=recall,
                             retrieval_k=open_book.k if open_book is not None else None, notes=notes,
                             external=[n for n in answerers if n in scores])
    for name in scores:
        baseline = judge_baseline(name)
        if not name.startswith("base") and baseline in scores:
            result.judge[name] = reference_judge(table, name, baseline)
    return result


def scored_variant(variant: Variant, generated: list, rows: list[dict], table: list[dict], tokenizer,
                   config: BenchmarkConfig, chunk_texts: dict[str, str] | None, grounding,
                   coverage: list | None) -> dict[str, ModelScores]:
    """The variant's scores (reference perplexity closed book), and for an open-book variant with a grounding
    check its answers as served (`<name>_served`, grounded with `coverage`: coverage_of the open-book questions);
    per-question values go into `table`."""
    references = [row["reference"] for row in table]
    perplexity = (math.nan if variant.external or variant.book is not None or not config.reference_perplexity
                  else reference_perplexity(variant.model, tokenizer, variant.prompts, references))
    scores = {variant.name: score_answers(variant.name, generated, rows, table, chunk_texts, perplexity)}
    if variant.book is not None and grounding is not None:
        served = variant.name.replace("_open_book", "_served")
        scores[served] = score_answers(served, served_answers(rows, generated, variant.book.passages, grounding,
                                                              coverage), rows, table, chunk_texts, math.nan)
    return scores


def judge_baseline(name: str) -> str:
    """What a row is compared with: base asked the same way."""
    return next((f"base{suffix}" for suffix in ("_open_book", "_served") if name.endswith(suffix)), "base")


def improvement(result: BenchmarkResult, challenger: str, metric: str) -> float:
    return getattr(result.models[challenger], metric) - getattr(result.models["base"], metric)


def tuned_candidates(result: BenchmarkResult) -> list[str]:
    """The closed-book tuned models of this run: what the gate, the LLM judge and the export choose among (the
    re-scored `champion` is what they are compared with, never a candidate)."""
    return [n for n in result.models if n not in ("base", CHAMPION) and not n.endswith(("_open_book", "_served"))
            and n not in result.external]
