"""Gold-set ROUGE-L per system, grouped by where the question's source document went in `sft_dataset`'s split:
did tuning teach the documents the model trained on (train), or only the answering style (test documents)?

    SLM_WAREHOUSE_DIR=warehouse .venv/bin/python bench/gold_by_document.py <benchmark run>/per_question.csv \
        --domain ev_charging
    SLM_WAREHOUSE_DIR=... .venv/bin/python bench/gold_by_document.py bench/results/gold_ev_charging.json

Reads saved answers only (no generation): the per-question rows of a benchmark_report run or of bench/gold.py, the
domain's latest sft_dataset manifest (document -> split) and its stored document sources. Writes
bench/results/<input name>_by_document.json and prints a Markdown table. Not part of the test suite.
"""

import argparse
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.compare_gold import per_question  # noqa: E402  (a per_question.csv or bench/gold.py JSON, booleans parsed)

GROUPS = ("train", "val", "test", "not in corpus", "unanswerable")


def document_splits(sft_dir: Path) -> dict[str, str]:
    """doc_id -> train/val/test from the sft_dataset run that latest.json points at."""
    from slm_assets.artifacts import latest_run_dir

    return json.loads((latest_run_dir(sft_dir) / "manifest.json").read_text())["document_splits"]


def group_of(row: dict, splits: dict[str, str], sources: dict[str, str]) -> str:
    from slm_assets.train.gold_leakage import gold_doc_id

    if not row["answerable"]:
        return "unanswerable"
    doc = gold_doc_id(row["doc_id"], sources)
    return splits.get(doc, "not in corpus") if doc else "not in corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path, help="per_question.csv of a benchmark_report run, or a bench/gold.py JSON")
    parser.add_argument("--domain", help="the domain of a per_question.csv")
    parser.add_argument("--out", type=Path, help="default: bench/results/<input name>_by_document.json")
    args = parser.parse_args()

    from slm_assets.settings import Settings
    from slm_assets.warehouse import connect, document_sources

    if args.result.suffix == ".csv" and not args.domain:
        parser.error(f"{args.result}: a per_question.csv does not name its domain; pass --domain")
    domain = args.domain or json.loads(args.result.read_text())["domain"]
    rows = list(per_question(args.result).values())
    warehouse = Settings().warehouse_dir
    splits = document_splits(warehouse / "artifacts" / domain / "sft")
    with connect(warehouse / "slm.duckdb") as con:
        sources = document_sources(con, domain)
    systems = [c.removesuffix("_rouge_l") for c in rows[0] if c.endswith("_rouge_l")]
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        group = group_of(row, splits, sources)
        for system in systems:
            if row.get(f"{system}_rouge_l") not in ("", None):
                scores[system][group].append(float(row[f"{system}_rouge_l"]))
    groups = [g for g in GROUPS if any(g in by for by in scores.values())]
    means = {s: {g: {"n": len(v), "rouge_l": round(sum(v) / len(v), 4)} for g, v in by.items()}
             for s, by in scores.items()}
    counts = {g: next(means[s][g]["n"] for s in systems if g in means[s]) for g in groups}
    header = "| system | " + " | ".join(f"{g} ({counts[g]})" for g in groups) + " |"
    lines = [header, "|---" * (len(groups) + 1) + "|"]
    for system in systems:
        lines.append(f"| {system} | " + " | ".join(
            f"{means[system][g]['rouge_l']:.3f}" if g in means[system] else "" for g in groups) + " |")
    table = "\n".join(lines)
    print(table)
    out = args.out or ROOT / "bench" / "results" / f"{args.result.stem}_by_document.json"
    out.write_text(json.dumps({
        "input": str(args.result), "domain": domain, "groups": counts, "rouge_l": means, "table": table,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
