"""Answer quality per GGUF quantisation, through the served path: the same gold questions, open book, asked of each
quantised file of one export bundle with the server's own code (`LlamaCppBackend` chat with the GGUF's template,
`Retriever.ground` for the passages, `Retriever.check` for the grounding step), greedy.

    SLM_WAREHOUSE_DIR=warehouse .venv/bin/python bench/quant_quality.py --domain ev_charging [--bundle DIR]

For each quantisation: ROUGE-L and token F1 of the model's own open-book answer and of the served answer (after
grounding), on all gold questions and per split (dev / holdout), and the paired bootstrap interval (1,000
resamples) of each quantisation minus the reference one (q8_0 by default). Writes
bench/results/quant_quality_<domain>.json (or `--out`) and prints a Markdown table. Not part of the test suite.
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def answer_all(gguf: Path, rows: list[dict], retriever, max_tokens: int, threads: int) -> list[dict]:
    """Per question: the model's open-book answer and the served answer (after the grounding check)."""
    from slm_assets.serve.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, n_threads=threads, slots=1)
    out = []
    try:
        for row in rows:
            messages = [row["prompt"][0], {"role": "user", "content": row["question"]}]
            book = retriever.ground(messages)
            raw = backend.chat(book.messages, max_tokens, 0.0).text.strip()
            served = retriever.check(book, raw).text if retriever.checks(book) else raw
            out.append({"qa_id": row["qa_id"], "open_book": raw, "served": served})
    finally:
        backend.close()
    return out


def with_importance_matrix(bundle: Path, domain: str, quantizations: list[str], n_texts: int,
                           warehouse_dir: Path, calibration: str) -> dict[str, Path]:
    """'<q>+imatrix' -> a GGUF quantised from the bundle's merged model with an importance matrix of `n_texts`
    domain chunks or chat-formatted SFT training examples (as gguf_export makes it), written in
    <bundle>/imatrix-<calibration>-<n>/."""
    from slm_assets.export.gguf import export_ggufs, uses_importance
    from slm_assets.export.imatrix import chat_calibration_texts, evenly_spaced
    from slm_assets.train.sft_data import read_split
    from slm_assets.warehouse import chunk_texts, connect

    if calibration == "chat":
        sft_dir = warehouse_dir / "artifacts" / domain / "sft"
        run = json.loads((sft_dir / "latest.json").read_text())["run"]
        texts = chat_calibration_texts(bundle / "merged", read_split(sft_dir / run, "train"), n_texts)
    else:
        with connect(warehouse_dir / "slm.duckdb", read_only=True) as con:
            by_id = chunk_texts(con, domain)
        texts = evenly_spaced([by_id[chunk_id] for chunk_id in sorted(by_id)], n_texts)
    out_dir = bundle / f"imatrix-{calibration}-{n_texts}"
    infos = export_ggufs(bundle / "merged", out_dir, domain, [q for q in quantizations if uses_importance(q)],
                         calibration=texts)
    print(f"importance matrix: {len(texts)} chunks, {next(iter(infos.values())).importance_tokens} tokens", flush=True)
    return {f"{qtype}+imatrix": info.path for qtype, info in infos.items()}


def scores(answers: list[dict], rows: list[dict]) -> dict:
    """answer kind -> split -> mean ROUGE-L and token F1, with the per-question ROUGE-L kept for the interval."""
    from slm_assets.evaluate.metrics import rouge_l, token_f1

    out: dict = {}
    for kind in ("open_book", "served"):
        for split in ("all", *sorted({r["split"] for r in rows})):
            pairs = [(a[kind], r["completion"][0]["content"]) for a, r in zip(answers, rows, strict=True)
                     if split == "all" or r["split"] == split]
            per_question = [rouge_l(p, ref) for p, ref in pairs]
            out.setdefault(kind, {})[split] = {
                "n": len(pairs), "rouge_l": sum(per_question) / len(pairs),
                "token_f1": sum(token_f1(p, ref) for p, ref in pairs) / len(pairs), "per_question": per_question}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", required=True)
    parser.add_argument("--bundle", type=Path, default=None, help="default: the newest export bundle")
    parser.add_argument("--quantizations", nargs="+", default=["q4_k_m", "q8_0"])
    parser.add_argument("--reference", default="q8_0", help="the quantisation the others are compared with")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration", choices=["chunks", "chat"], default="chat",
                        help="importance-matrix texts: the domain's chunks, or SFT examples under the chat template")
    parser.add_argument("--importance-texts", type=int, default=0,
                        help="also quantise the bundle's merged model to each quantisation with an importance matrix "
                        "from this many domain chunks (rows '<q>+imatrix')")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/quant_quality_<domain>.json")
    args = parser.parse_args()

    from slm_assets.artifacts import newest_export_bundle
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.evaluate.gate import paired_bootstrap
    from slm_assets.serve.open_book import load_retriever
    from slm_assets.settings import Settings

    settings, spec = Settings(), load_domain(args.domain)
    bundle = args.bundle or newest_export_bundle(settings.warehouse_dir / "artifacts" / spec.name)
    if bundle is None:
        sys.exit(f"no export bundle for {spec.name} under {settings.warehouse_dir}: materialise gguf_export first")
    retriever = load_retriever(settings.warehouse_dir, spec.name, spec.split.context.k_retrieve, spec.grounding)
    rows, _evidence = gold_rows(gold_path(spec), spec.system_prompt)
    load_before, started = os.getloadavg(), time.monotonic()
    files = {qtype: bundle / f"{spec.name}-{qtype}.gguf" for qtype in args.quantizations}
    if args.importance_texts:
        files.update(with_importance_matrix(bundle, spec.name, args.quantizations, args.importance_texts,
                                            settings.warehouse_dir, args.calibration))
    results = {}
    for qtype, gguf in files.items():
        began = time.monotonic()
        answers = answer_all(gguf, rows, retriever, spec.benchmark.max_new_tokens, args.threads)
        results[qtype] = {"file": gguf.name, "mib": round(gguf.stat().st_size / 2**20, 1),
                          "seconds": round(time.monotonic() - began, 1), "scores": scores(answers, rows),
                          "answers": answers}
        print(f"{qtype}: served ROUGE-L {results[qtype]['scores']['served']['all']['rouge_l']:.4f}", flush=True)
    reference = results[args.reference]["scores"]
    lines = ["| quant | MiB | open book ROUGE-L (dev / holdout) | served ROUGE-L (dev / holdout) | "
             f"served minus {args.reference} [95% interval] |", "|---|---|---|---|---|"]
    for qtype, result in results.items():
        mine = result["scores"]
        for kind in ("open_book", "served"):
            diff = paired_bootstrap(mine[kind]["all"]["per_question"], reference[kind]["all"]["per_question"])
            result[f"{kind}_minus_{args.reference}"] = {"mean": diff[0], "low": diff[1], "high": diff[2]}

        def cell(kind: str, mine: dict = mine) -> str:
            return (f"{mine[kind]['all']['rouge_l']:.3f} ({mine[kind].get('dev', {}).get('rouge_l', float('nan')):.3f}"
                    f" / {mine[kind].get('holdout', {}).get('rouge_l', float('nan')):.3f})")

        d = result[f"served_minus_{args.reference}"]
        lines.append(f"| {qtype} | {result['mib']} | {cell('open_book')} | {cell('served')} | "
                     f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] |")
    table = "\n".join(lines)
    print(table)
    out = args.out or ROOT / "bench" / "results" / f"quant_quality_{spec.name}.json"
    out.write_text(json.dumps({
        "domain": spec.name, "bundle": str(bundle), "questions": len(rows), "reference": args.reference,
        "max_new_tokens": spec.benchmark.max_new_tokens, "k_retrieve": spec.split.context.k_retrieve,
        "results": results, "table": table, "wall_s": round(time.monotonic() - started, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "machine": platform.platform(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
