"""Which passage sentence the extractive fallback quotes: its ranking weights measured on the gold sets, with no
generation.

    .venv/bin/python bench/sentence_choice.py ev_charging=warehouse ev_public=/tmp/wh_public

Each argument is DOMAIN=WAREHOUSE (the warehouse holds the domain's retrieval index). For every answerable gold
question the domain's top-k passages are retrieved and scored once (`coverage_signals`); then, for each pair of
`fallback_length_weight` x `fallback_context_weight` on a small grid, the sentence the fallback would quote
(`quoted`, as served) is scored against the reference answer with ROUGE-L and token F1. The pair is chosen on the
dev questions of all domains together (the holdout questions only report); on a tie the smaller weights win.
Prints a table and writes bench/results/sentence_choice.json. Not part of the test suite.
"""

import argparse
import itertools
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

LENGTH_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2)
CONTEXT_WEIGHTS = (0.0, 0.1, 0.2, 0.3)
SPLITS = ("dev", "holdout")


def answerable_signals(domain: str, warehouse: Path) -> list[tuple[dict, list[str], object]]:
    """(gold row, passages, coverage signals) of every answerable gold question of `domain`."""
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.retrieval.grounding import coverage_signals
    from slm_assets.retrieval.index import ChunkIndex

    spec = load_domain(domain)
    index = ChunkIndex.load(warehouse / "artifacts" / spec.name / "index")
    if index is None:
        raise SystemExit(f"{domain}: no retrieval index under {warehouse}/artifacts/{spec.name}/index")
    gold, _evidence = gold_rows(gold_path(spec), spec.system_prompt)
    out = []
    for row in (r for r in gold if r["answerable"]):
        hits = index.search(row["question"], spec.split.context.k_retrieve)
        passages = [h.text for h in hits]
        out.append((row, passages, coverage_signals(row["question"], passages, passage_vectors=index.vectors(hits))))
    return out


def quoted_scores(signals: list[tuple[dict, list[str], object]], config) -> dict[str, dict[str, float]]:
    """Mean ROUGE-L and token F1 of the sentence the fallback quotes, per split."""
    from slm_assets.evaluate.metrics import rouge_l, token_f1
    from slm_assets.retrieval.grounding import quoted

    scores = {split: {"rouge_l": [], "token_f1": []} for split in SPLITS}
    for row, passages, signal in signals:
        best = signal.best(config, 1)
        text = quoted(best[0], passages) if best else ""
        reference = row["completion"][0]["content"]
        scores[row["split"]]["rouge_l"].append(rouge_l(text, reference))
        scores[row["split"]]["token_f1"].append(token_f1(text, reference))
    return {split: {"n": len(m["rouge_l"]), **{k: sum(v) / len(v) if v else float("nan") for k, v in m.items()}}
            for split, m in scores.items()}


def domain_and_warehouse(argument: str) -> tuple[str, Path]:
    """DOMAIN=WAREHOUSE on the command line."""
    domain, sep, warehouse = argument.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{argument!r}: expected DOMAIN=WAREHOUSE")
    return domain, Path(warehouse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="+", type=domain_and_warehouse, help="DOMAIN=WAREHOUSE")
    args = parser.parse_args()

    from slm_assets.retrieval.config import GroundingConfig

    signals = {domain: answerable_signals(domain, warehouse) for domain, warehouse in args.domains}
    grid = []
    for length, context in itertools.product(LENGTH_WEIGHTS, CONTEXT_WEIGHTS):
        config = GroundingConfig(fallback_length_weight=length, fallback_context_weight=context)
        grid.append({"fallback_length_weight": length, "fallback_context_weight": context,
                     "domains": {d: quoted_scores(s, config) for d, s in signals.items()}})

    def dev_mean(entry: dict) -> float:
        return sum(m["dev"]["rouge_l"] for m in entry["domains"].values()) / len(entry["domains"])

    best = max(grid, key=lambda e: (round(dev_mean(e), 3), -e["fallback_length_weight"] - e["fallback_context_weight"]))
    lines = ["| length weight | context weight | " + " | ".join(
        f"{d} dev / holdout ROUGE-L (token F1)" for d in signals) + " |", "|---|---|" + "---|" * len(signals)]
    for entry in grid:
        cells = [f"{m['dev']['rouge_l']:.3f} / {m['holdout']['rouge_l']:.3f} ({m['dev']['token_f1']:.3f} / "
                 f"{m['holdout']['token_f1']:.3f})" for m in entry["domains"].values()]
        mark = "**" if entry is best else ""
        lines.append(f"| {mark}{entry['fallback_length_weight']}{mark} | {mark}{entry['fallback_context_weight']}{mark} | "
                     + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results" / "sentence_choice.json"
    out.write_text(json.dumps({
        "what": "ROUGE-L and token F1 of the sentence the extractive fallback quotes on answerable gold questions, "
                "per fallback_length_weight x fallback_context_weight; chosen on dev",
        "warehouses": {domain: str(warehouse) for domain, warehouse in args.domains},
        "n_answerable": {d: len(s) for d, s in signals.items()},
        "chosen": {k: best[k] for k in ("fallback_length_weight", "fallback_context_weight")},
        "grid": grid, "table": table, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average": list(os.getloadavg())}, indent=1))
    print(f"chosen: {best['fallback_length_weight']} / {best['fallback_context_weight']}; wrote {out}")


if __name__ == "__main__":
    main()
