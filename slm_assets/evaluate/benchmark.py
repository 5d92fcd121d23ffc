"""Base vs fine-tuned vs distilled on the held-out, document-disjoint test split."""

import csv
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    perplexity: float  # of the reference answers
    mean_latency_s: float
    p95_latency_s: float
    tokens_per_s: float


@dataclass
class BenchmarkResult:
    n_questions: int
    models: dict[str, ModelScores]
    rows: list[dict] = field(default_factory=list)  # per question: question, reference, answers, scores
    judge: dict[str, dict] = field(default_factory=dict)  # reference-based pairwise judge vs base
    retrieval_recall_at_k: float | None = None  # is the source chunk among the passages retrieved
    retrieval_k: int | None = None

    def as_dict(self) -> dict:
        return {"n_questions": self.n_questions, "models": {k: asdict(v) for k, v in self.models.items()},
                "judge": self.judge, "retrieval_recall_at_k": self.retrieval_recall_at_k,
                "retrieval_k": self.retrieval_k}


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
                    chunk_texts: dict[str, str] | None = None) -> BenchmarkResult:
    """`models` maps a name (base, lora_adapter, distilled_model) to a loaded causal LM. With an `index`, the
    models named in `open_book` are also asked with top-k retrieved passages, as `<name>_open_book`."""
    from slm_assets.train.chat_tokens import encode_chat
    from slm_assets.train.distill import answer_loss

    rows = sorted(test_rows, key=lambda r: r["qa_id"])
    if config.max_questions:
        rows = rows[: config.max_questions]
    prompts = [r["prompt"] for r in rows]
    references = [r["completion"][0]["content"] for r in rows]
    table = [{"qa_id": r["qa_id"], "doc_id": r["doc_id"], "question": r["prompt"][-1]["content"], "reference": ref}
             for r, ref in zip(rows, references, strict=True)]
    variants = [(name, model, prompts) for name, model in models.items()]
    recall = None
    if index is not None:
        rag_prompts, recall = open_book_prompts(rows, index, k)
        variants += [(f"{name}_open_book", models[name], rag_prompts) for name in open_book if name in models]
    scores: dict[str, ModelScores] = {}
    for name, model, variant_prompts in variants:
        ppl_examples = [encode_chat(tokenizer, p, ref, 768) for p, ref in zip(variant_prompts, references, strict=True)]
        generated = generate_answers(model, tokenizer, variant_prompts, config.max_new_tokens, config.batch_size)
        per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
        for row, gen in zip(table, generated, strict=True):
            row[f"{name}_answer"] = gen.text
            for metric, value in score_pair(gen.text, row["reference"]).items():
                row[f"{name}_{metric}"] = round(value, 4)
                per_metric[metric].append(value)
        answers = [g.text for g in generated]
        similarity = semantic_similarity(answers, references)
        grounded = [support_score(a, (chunk_texts or {}).get(r["chunk_id"], "")) for a, r in zip(answers, rows, strict=True)]
        for row, sim, gr in zip(table, similarity, grounded, strict=True):
            row[f"{name}_semantic_similarity"], row[f"{name}_groundedness"] = round(sim, 4), round(gr, 4)
        latencies = sorted(g.latency_s for g in generated)
        total_tokens = sum(g.new_tokens for g in generated)
        device = next(model.parameters()).device
        scores[name] = ModelScores(
            name=name,
            rouge_l=statistics.fmean(per_metric["rouge_l"]),
            bleu=corpus_bleu([g.text for g in generated], references),
            exact_match=statistics.fmean(per_metric["exact_match"]),
            token_f1=statistics.fmean(per_metric["token_f1"]),
            semantic_similarity=statistics.fmean(similarity),
            groundedness=statistics.fmean(grounded) if chunk_texts else float("nan"),
            perplexity=math.exp(answer_loss(model, ppl_examples, tokenizer.pad_token_id, str(device))),
            mean_latency_s=statistics.fmean(latencies),
            p95_latency_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            tokens_per_s=total_tokens / max(1e-9, sum(latencies)),
        )
    result = BenchmarkResult(n_questions=len(rows), models=scores, rows=table, retrieval_recall_at_k=recall,
                             retrieval_k=k if index is not None else None)
    for name in scores:
        baseline = "base_open_book" if name.endswith("_open_book") else "base"
        if not name.startswith("base") and baseline in scores:
            result.judge[name] = reference_judge(table, name, baseline)
    return result


def improvement(result: BenchmarkResult, challenger: str, metric: str) -> float:
    return getattr(result.models[challenger], metric) - getattr(result.models["base"], metric)


def promotion_gate(result: BenchmarkResult, metric: str, min_improvement: float) -> tuple[str, float, bool, str]:
    """(best tuned model, its gain over base, passed, a sentence saying by how much)."""
    candidates = [n for n in result.models if n != "base" and not n.endswith("_open_book")]
    best = max(candidates, key=lambda n: getattr(result.models[n], metric))
    gain = improvement(result, best, metric)
    passed = gain > min_improvement
    sentence = (f"{best} {metric} {getattr(result.models[best], metric):.4f} vs base "
                f"{getattr(result.models['base'], metric):.4f}: {gain:+.4f} (required > {min_improvement:+.4f})"
                + ("" if passed else f"; short by {min_improvement - gain:.4f}"))
    return best, gain, passed, sentence


def write_report(result: BenchmarkResult, out_dir: Path, title: str) -> dict[str, str]:
    """report.json, report.md, per_question.csv and a metrics plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(result.as_dict(), indent=2))
    with (out_dir / "per_question.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(result.rows[0]) if result.rows else ["qa_id"])
        writer.writeheader()
        writer.writerows(result.rows)
    plot = out_dir / "metrics.png"
    _plot(result, plot)
    md = [f"# Benchmark: {title}", "", f"{result.n_questions} held-out questions (documents never trained on), greedy decoding.", "",
          markdown_table(result), ""]
    if result.retrieval_recall_at_k is not None:
        md += [f"`*_open_book` rows answer with the top {result.retrieval_k} passages retrieved by BM25; "
               f"retrieval recall@{result.retrieval_k} (source chunk retrieved): {result.retrieval_recall_at_k:.2f}.", ""]
    if result.judge:
        md += ["## Pairwise judge (reference_f1: closer to the reference wins; not an LLM judge)", "",
               "| model vs base | wins | losses | ties | win rate | performance ratio |", "|---|---|---|---|---|---|"]
        for name, j in result.judge.items():
            md.append(f"| {name} | {j['wins']} | {j['losses']} | {j['ties']} | {j['win_rate']:.2f} | {j['performance_ratio']:.2f} |")
        md.append("")
    md += ["## Examples", ""]
    for row in result.rows[:5]:
        md.append(f"**Q:** {row['question']}  \n**Reference:** {row['reference']}  ")
        for name in result.models:
            md.append(f"**{name}:** {row.get(f'{name}_answer', '')}  ")
        md.append("")
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    return {"json": str(out_dir / "report.json"), "markdown": str(out_dir / "report.md"),
            "csv": str(out_dir / "per_question.csv"), "plot": str(plot)}


def markdown_table(result: BenchmarkResult) -> str:
    lines = ["| model | ROUGE-L | BLEU | exact match | token F1 | semantic sim. | grounded | ref. perplexity | "
             "mean latency (s) | tokens/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in result.models.values():
        lines.append(f"| {s.name} | {s.rouge_l:.3f} | {s.bleu:.3f} | {s.exact_match:.3f} | {s.token_f1:.3f} | "
                     f"{s.semantic_similarity:.3f} | {s.groundedness:.3f} | {s.perplexity:.2f} | "
                     f"{s.mean_latency_s:.3f} | {s.tokens_per_s:.1f} |")
    return "\n".join(lines)


def _plot(result: BenchmarkResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.models)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [getattr(result.models[name], m) for m in METRICS]
        ax.bar([x + i * width for x in range(len(METRICS))], values, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1)
    ax.set_title("Held-out benchmark")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
