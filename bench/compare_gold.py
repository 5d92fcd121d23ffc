"""Two bench/gold.py results on the same gold questions, question by question: the difference of each row's
ROUGE-L, token F1 and echo rate (after - before) with its paired bootstrap interval, overall and on the dev and
holdout parts. For a change of data or training (minimal answers, a DPO phase) measured on one adapter each.

    .venv/bin/python bench/compare_gold.py BEFORE.json AFTER.json --gold domains/gold/ev_charging.jsonl \
        --label "SFT -> SFT+DPO" --out bench/results/X.json

The row names are the model's (`lora_adapter`, `lora_adapter_open_book`, `lora_adapter_served`); both files must
hold the same questions (matched by qa_id). Not part of the test suite.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

ROWS = {"closed book": "lora_adapter", "open book": "lora_adapter_open_book", "served": "lora_adapter_served"}
METRICS = ("rouge_l", "token_f1", "echo")


def per_question(path: Path) -> dict[str, dict]:
    """A bench/gold.py result's per-question rows by qa_id."""
    return {row["qa_id"]: row for row in json.loads(path.read_text())["per_question"]}


def split_of(gold: Path) -> dict[str, str]:
    """qa_id -> dev or holdout, as the gold file marks them (the benchmark's own reading of the file)."""
    from slm_assets.evaluate.domain_benchmark import gold_rows

    return {row["qa_id"]: row.get("split", "all") for row in gold_rows(gold, "")[0]}


def compared(before: dict[str, dict], after: dict[str, dict], ids: list[str]) -> dict:
    from slm_assets.evaluate.gate import paired_bootstrap

    table = {}
    for label, row in ROWS.items():
        for metric in METRICS:
            key = f"{row}_{metric}"
            a = [float(after[i][key]) for i in ids]
            b = [float(before[i][key]) for i in ids]
            diff, low, high = paired_bootstrap(a, b)
            table[f"{label} {metric}"] = {"before": round(sum(b) / len(b), 4), "after": round(sum(a) / len(a), 4),
                                          "difference": round(diff, 4), "interval_95": [round(low, 4), round(high, 4)]}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--gold", type=Path, required=True, help="the gold JSONL (for its dev / holdout marks)")
    parser.add_argument("--label", required=True, help="what changed, for the JSON and the table")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    before, after, splits = per_question(args.before), per_question(args.after), split_of(args.gold)
    if set(before) != set(after):
        raise SystemExit(f"{args.before} and {args.after} hold different questions")
    ids = sorted(before)
    parts = {"all": ids, **{part: [i for i in ids if splits.get(i) == part] for part in ("dev", "holdout")}}
    result = {"label": args.label, "before": str(args.before), "after": str(args.after),
              **{part: compared(before, after, part_ids) for part, part_ids in parts.items() if part_ids}}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"| {args.label} | before | after | difference (95 % interval) |\n|---|---|---|---|")
    for name, scores in result["all"].items():
        low, high = scores["interval_95"]
        print(f"| {name} | {scores['before']:.3f} | {scores['after']:.3f} | {scores['difference']:+.3f} "
              f"[{low:+.3f}, {high:+.3f}] |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
