"""The benchmark's files: report.json, report.md, per_question.csv, metrics.png and latency.png; flat metrics
for MLflow and the Dagster UI."""

import csv
import json
import math
from pathlib import Path

from slm_assets.evaluate.benchmark import METRICS, BenchmarkResult
from slm_assets.plots import pyplot, save_png
from slm_assets.storage import replaced_atomically, write_text_atomically

LATENCY_FIELDS = ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "decode_tokens_per_s",
                  "throughput_tokens_per_s", "peak_memory_mb", "memory_increase_mb")
JUDGE_FIELDS = ("win_rate", "performance_ratio", "wins", "losses", "ties", "undecided", "malformed_verdicts",
                "failed_calls", "order_consistency", "first_position_rate")


def write_report(result: BenchmarkResult, out_dir: Path, title: str, gate: dict | None = None,
                 intro: str | None = None) -> dict[str, str]:
    """report.json (with `gate`'s keys: primary_metric, best_model, improvement_over_base, ...), report.md,
    per_question.csv, metrics.png and, when latency was measured, latency.png. Replaces earlier files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out_dir / "report.json", json.dumps({**result.as_dict(), **(gate or {})}, indent=2))
    columns = list(dict.fromkeys(key for row in result.rows for key in row)) or ["qa_id"]
    with replaced_atomically(out_dir / "per_question.csv") as staging, \
            staging.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(result.rows)
    files = {"json": str(out_dir / "report.json"), "markdown": str(out_dir / "report.md"),
             "csv": str(out_dir / "per_question.csv"), "plot": str(out_dir / "metrics.png")}
    plot_metrics(result, out_dir / "metrics.png")
    latency_plot = out_dir / "latency.png"
    latency_plot.unlink(missing_ok=True)
    if result.latency:
        plot_latency(result.latency, latency_plot)
        files["latency_plot"] = str(latency_plot)
    write_text_atomically(out_dir / "report.md", render_markdown(result, title, gate, intro))
    return files


def render_markdown(result: BenchmarkResult, title: str, gate: dict | None, intro: str | None) -> str:
    md = [f"# Benchmark: {title}", "",
          intro or f"{result.n_questions} held-out questions (documents never trained on), greedy decoding.", "",
          markdown_table(result), "", "![metrics](metrics.png)", ""]
    if gate:
        md += [f"Promotion gate on `{gate['primary_metric']}`: {gate.get('verdict', '')}", ""]
        if gate.get("promotion"):
            md += [f"Champion: {gate['promotion']['verdict']}", ""]
    if result.sources:
        md += ["Models: " + "; ".join(f"`{name}` from `{src}`" for name, src in result.sources.items()), ""]
    if result.external:
        md += [", ".join(f"`{n}`" for n in result.external) + " answered through its API at temperature 0 with the "
               "same prompts and answer length: compared on its answers (no reference perplexity, as the API returns "
               "no log-probabilities; latency includes the network), never a candidate for the gate or the export.", ""]
    if result.retrieval_recall_at_k is not None:
        md += [f"`*_open_book` rows answer with the top {result.retrieval_k} passages retrieved (BM25 + embeddings, "
               "rank fusion); `*_served` rows are the same answers after the server's grounding check; reference "
               "perplexity is scored closed book only (open book it would cost a second pass over every passage); "
               f"retrieval recall@{result.retrieval_k} (the question's source retrieved): "
               f"{result.retrieval_recall_at_k:.2f}.", ""]
    if result.judge:
        md += ["## Pairwise judge (reference_f1: closer to the reference wins; not an LLM judge)", "",
               "| model vs base | wins | losses | ties | win rate | performance ratio |", "|---|---|---|---|---|---|"]
        for name, j in result.judge.items():
            md.append(f"| {name} | {j['wins']} | {j['losses']} | {j['ties']} | {j['win_rate']:.2f} | "
                      f"{j['performance_ratio']:.2f} |")
        md.append("")
    if result.llm_judge:
        md += llm_judge_markdown(result.llm_judge)
    if result.latency:
        md += latency_markdown(result.latency)
    if result.notes:
        md += ["## Notes", ""] + [f"- {note}" for note in result.notes] + [""]
    md += ["## Examples", ""]
    for row in result.rows[:5]:
        md.append(f"**Q:** {row['question']}  \n**Reference:** {row['reference']}  ")
        for name in result.models:
            md.append(f"**{name}:** {row.get(f'{name}_answer', '')}  ")
        md.append("")
    return "\n".join(md)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return "inf" if math.isinf(value) else f"{value:.{digits}f}"
    return str(value)


def llm_judge_markdown(llm_judge: dict[str, dict]) -> list[str]:
    names = sorted({j["judge"] for j in llm_judge.values()})
    md = [f"## Pairwise LLM judge ({', '.join(f'`{n}`' for n in names)})", "",
          "Each question is judged twice, the answers swapped; a win or loss needs both orders to agree, any other "
          "pair of valid verdicts is a tie. Malformed replies and failed calls leave the pair undecided (counted, "
          "never guessed); the win rate is over decided pairs. Performance ratio = wins / losses.", "",
          "| model vs base | wins | losses | ties | undecided | malformed | failed calls | win rate | "
          "performance ratio | order consistency | first-position rate |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, j in llm_judge.items():
        md.append(f"| {name} | {j['wins']} | {j['losses']} | {j['ties']} | {j['undecided']} | "
                  f"{j['malformed_verdicts']} | {j['failed_calls']} | {_fmt(j['win_rate'])} | "
                  f"{_fmt(j['performance_ratio'])} | {_fmt(j['order_consistency'])} | {_fmt(j['first_position_rate'])} |")
    return md + [""]


def latency_markdown(latency: dict) -> list[str]:
    md = ["## Latency and throughput", "",
          f"`{latency['model']}` on the first {latency['prompts']} benchmark prompts, greedy, "
          f"{latency['max_new_tokens']} new tokens"
          + (" each (end of sequence suppressed)" if latency["fixed_length"] else " at most") + ". "
          "TTFT: request to first token; decode: tokens/s after the first token, per request; throughput: all "
          "tokens / wall time. Peak memory: CUDA allocated (transformers on GPU) or the process's peak resident "
          "set (+: increase during the run).", "",
          "| run | runtime | device | batch | TTFT p50 (s) | TTFT p95 (s) | latency p50 (s) | latency p95 (s) | "
          "decode tok/s | throughput tok/s | peak MiB | + MiB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, run in latency["runs"].items():
        md.append(f"| {name} | {run['runtime']} | {run['device']} | {run['batch_size']} | {_fmt(run['ttft_p50_s'], 3)} | "
                  f"{_fmt(run['ttft_p95_s'], 3)} | {_fmt(run['latency_p50_s'], 3)} | {_fmt(run['latency_p95_s'], 3)} | "
                  f"{_fmt(run['decode_tokens_per_s'], 1)} | {_fmt(run['throughput_tokens_per_s'], 1)} | "
                  f"{_fmt(run['peak_memory_mb'], 0)} | {_fmt(run['memory_increase_mb'], 0)} |")
    if latency.get("gguf_skipped"):
        md.append(f"\nllama.cpp not timed: {latency['gguf_skipped']}")
    return md + ["", "![latency](latency.png)", ""]


def markdown_table(result: BenchmarkResult) -> str:
    lines = ["| model | ROUGE-L | BLEU | exact match | token F1 | semantic sim. | grounded | echo rate | "
             "says so when unanswerable | answers answerable | ref. perplexity | mean latency (s) | tokens/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result.models.values():
        lines.append(f"| {s.name} | {s.rouge_l:.3f} | {s.bleu:.3f} | {s.exact_match:.3f} | {s.token_f1:.3f} | "
                     f"{s.semantic_similarity:.3f} | {_fmt(s.groundedness, 3)} | {s.echo_rate:.3f} | "
                     f"{_fmt(s.abstain_unanswerable, 3)} | {_fmt(s.answered_answerable, 3)} | {_fmt(s.perplexity)} | "
                     f"{s.mean_latency_s:.3f} | {s.tokens_per_s:.1f} |")
    return "\n".join(lines)


def latency_summary(latency: dict | None) -> dict:
    """Each run's summary without the per-request samples (for metadata)."""
    if not latency:
        return {}
    return {name: {k: v for k, v in run.items() if k != "samples"} for name, run in latency["runs"].items()}


def flat_metrics(result: BenchmarkResult, sep: str = ".") -> dict[str, float]:
    """Finite numbers only: `<model>.<score>`, `<model>.llm_judge.<field>`, `<model>.reference_f1.<field>`,
    `latency.<run>.<field>` (sep "/" for Dagster metadata keys)."""
    out: dict[str, float] = {}
    for name, scores in result.models.items():
        for key, value in vars(scores).items():
            if isinstance(value, float):
                out[f"{name}{sep}{key}"] = value
    for prefix, judged in (("reference_f1", result.judge), ("llm_judge", result.llm_judge)):
        for name, summary in judged.items():
            for key in JUDGE_FIELDS:
                if isinstance(summary.get(key), int | float):
                    out[f"{name}{sep}{prefix}{sep}{key}"] = float(summary[key])
    for run, summary in latency_summary(result.latency).items():
        for key in LATENCY_FIELDS:
            out[f"latency{sep}{run}{sep}{key}"] = float(summary[key])
    return {k: v for k, v in out.items() if math.isfinite(v)}


def plot_metrics(result: BenchmarkResult, path: Path) -> None:
    plt = pyplot()
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
    save_png(fig, path, dpi=80)


def plot_latency(latency: dict, path: Path) -> None:
    """Per-request TTFT and latency distributions per run (box + points)."""
    plt = pyplot()
    runs = list(latency["runs"].items())
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, label in ((axes[0], "ttft_s", "time to first token (s)"), (axes[1], "latency_s", "request latency (s)")):
        data = [run["samples"][key] for _, run in runs]
        ax.boxplot(data, showfliers=False)
        for i, values in enumerate(data, start=1):
            ax.scatter([i] * len(values), values, s=8, alpha=0.6)
        ax.set_xticks(range(1, len(runs) + 1), [name for name, _ in runs], rotation=15, fontsize=7)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{latency['model']}: {latency['prompts']} prompts x {latency['max_new_tokens']} tokens")
    fig.tight_layout()
    save_png(fig, path, dpi=80)
