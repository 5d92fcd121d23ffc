"""Base vs fine-tuned vs distilled on the held-out, document-disjoint test split."""

import math
import statistics
from dataclasses import asdict, dataclass, field

from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.generation import generate_answers
from slm_assets.evaluate.metrics import corpus_bleu, score_pair, token_f1
from slm_assets.evaluate.semantic import semantic_similarity
from slm_assets.synth.gates import support_score

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
    perplexity: float  # of the reference answers (nan for API models: no log-probabilities)
    mean_latency_s: float
    p95_latency_s: float
    tokens_per_s: float


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


def open_book_prompts(rows: list[dict], index, k: int) -> tuple[list[list[dict]], float]:
    """Each test prompt with its top-k retrieved passages instead of the bare question, and recall@k."""
    from slm_assets.retrieval.prompting import open_book_question

    prompts, found = [], 0
    for row in rows:
        question = row.get("question") or row["prompt"][-1]["content"]
        hits = index.search(question, k)
        found += row["chunk_id"] in {h.chunk_id for h in hits}
        prompts.append(row["prompt"][:-1] + [{"role": "user", "content": open_book_question(question, [h.text for h in hits])}])
    return prompts, found / max(1, len(rows))


def evaluate_models(models: dict, tokenizer, test_rows: list[dict], config: BenchmarkConfig, index=None,
                    open_book: tuple[str, ...] = ("base", "lora_adapter"), k: int = 2,
                    chunk_texts: dict[str, str] | None = None, answerers: dict | None = None) -> BenchmarkResult:
    """`models` maps a name (base, lora_adapter, distilled_model) to a loaded causal LM. With an `index`, the
    models named in `open_book` are also asked with top-k retrieved passages, as `<name>_open_book`.
    `answerers` maps a name (teacher) to a callable that answers chat prompts through an API
    (teacher_answers.TeacherAnswerer): scored on the answers alone, reported, never a gate candidate; one that
    fails is left out with a note.

    Greedy decoding under a fixed torch seed (`config.seed`, the global generator left as it was), so the same
    inputs give the same numbers; only the timing fields differ between runs.
    """
    import torch

    from slm_assets.train.chat_tokens import encode_chat
    from slm_assets.train.distill import answer_loss

    rows = sorted(test_rows, key=lambda r: r["qa_id"])
    if config.max_questions:
        rows = rows[: config.max_questions]
    prompts = [r["prompt"] for r in rows]
    references = [r["completion"][0]["content"] for r in rows]
    table = [{"qa_id": r["qa_id"], "doc_id": r["doc_id"], "question": r.get("question") or r["prompt"][-1]["content"],
              "reference": ref}
             for r, ref in zip(rows, references, strict=True)]
    variants = [(name, model, prompts) for name, model in models.items()]
    recall = None
    if index is not None:
        rag_prompts, recall = open_book_prompts(rows, index, k)
        variants += [(f"{name}_open_book", models[name], rag_prompts) for name in open_book if name in models]
    answerers = answerers or {}
    variants += [(name, answer, prompts) for name, answer in answerers.items()]
    scores: dict[str, ModelScores] = {}
    notes: list[str] = []
    for name, model, variant_prompts in variants:
        if name in answerers:
            from slm_assets.evaluate.teacher_answers import TeacherAnswersFailed

            try:
                generated = model(variant_prompts)
            except TeacherAnswersFailed as exc:
                notes.append(f"{name} not compared: {exc}")
                continue
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                generated = generate_answers(model, tokenizer, variant_prompts, config.max_new_tokens, config.batch_size)
        per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
        for row, gen in zip(table, generated, strict=True):
            row[f"{name}_answer"] = gen.text
            for metric, value in score_pair(gen.text, row["reference"]).items():
                row[f"{name}_{metric}"] = round(value, 4)
                per_metric[metric].append(value)
        answers = [g.text for g in generated]
        similarity = semantic_similarity(answers, references)
        # groundedness only where the source text is known (user questions may come without context)
        sources = [(chunk_texts or {}).get(r.get("chunk_id")) for r in rows]
        grounded = [support_score(a, src) if src else None for a, src in zip(answers, sources, strict=True)]
        for row, sim, gr in zip(table, similarity, grounded, strict=True):
            row[f"{name}_semantic_similarity"] = round(sim, 4)
            row[f"{name}_groundedness"] = round(gr, 4) if gr is not None else None
        known = [g for g in grounded if g is not None]
        latencies = sorted(g.latency_s for g in generated)
        total_tokens = sum(g.new_tokens for g in generated)
        if name in answerers:
            perplexity = float("nan")
        else:
            ppl_examples = [encode_chat(tokenizer, p, ref, 768)
                            for p, ref in zip(variant_prompts, references, strict=True)]
            device = str(next(model.parameters()).device)
            perplexity = math.exp(answer_loss(model, ppl_examples, tokenizer.pad_token_id, device))
        scores[name] = ModelScores(
            name=name,
            rouge_l=statistics.fmean(per_metric["rouge_l"]),
            bleu=corpus_bleu([g.text for g in generated], references),
            exact_match=statistics.fmean(per_metric["exact_match"]),
            token_f1=statistics.fmean(per_metric["token_f1"]),
            semantic_similarity=statistics.fmean(similarity),
            groundedness=statistics.fmean(known) if known else float("nan"),
            perplexity=perplexity,
            mean_latency_s=statistics.fmean(latencies),
            p95_latency_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            tokens_per_s=total_tokens / max(1e-9, sum(latencies)),
        )
    result = BenchmarkResult(n_questions=len(rows), models=scores, rows=table, retrieval_recall_at_k=recall,
                             retrieval_k=k if index is not None else None, notes=notes,
                             external=[n for n in answerers if n in scores])
    for name in scores:
        baseline = "base_open_book" if name.endswith("_open_book") else "base"
        if not name.startswith("base") and baseline in scores:
            result.judge[name] = reference_judge(table, name, baseline)
    return result


def improvement(result: BenchmarkResult, challenger: str, metric: str) -> float:
    return getattr(result.models[challenger], metric) - getattr(result.models["base"], metric)


def tuned_candidates(result: BenchmarkResult) -> list[str]:
    """The closed-book tuned models: what the gate, the LLM judge and the export choose among."""
    return [n for n in result.models if n != "base" and not n.endswith("_open_book") and n not in result.external]


def promotion_gate(result: BenchmarkResult, metric: str, min_improvement: float) -> tuple[str, float, bool, str]:
    """(best tuned model, its gain over base, passed, a sentence saying by how much)."""
    best = max(tuned_candidates(result), key=lambda n: getattr(result.models[n], metric))
    gain = improvement(result, best, metric)
    passed = gain > min_improvement
    sentence = (f"{best} {metric} {getattr(result.models[best], metric):.4f} vs base "
                f"{getattr(result.models['base'], metric):.4f}: {gain:+.4f} (required > {min_improvement:+.4f})"
                + ("" if passed else f"; short by {min_improvement - gain:.4f}"))
    return best, gain, passed, sentence
