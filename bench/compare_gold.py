"""Two results on the same gold questions, question by question: the difference of each row's ROUGE-L, token F1,
echo rate and reference recall (after - before) with its paired bootstrap interval, overall and on the dev and
holdout parts, the share of unanswerable questions declined and answerable ones answered, and how many answers to
a question whose reference opens with Yes or No open with the same word. For a change of data,
training or retrieval measured on whole runs. A result is a bench/gold.py JSON or a benchmark_report's
per_question.csv (the same rows).

    .venv/bin/python bench/compare_gold.py BEFORE.json AFTER.json --gold domains/gold/ev_charging.jsonl \
        --label "SFT -> SFT+DPO" --out bench/results/X.json [--models base lora_adapter distilled_model]

The row names are the model's (`lora_adapter`, `lora_adapter_open_book`, `lora_adapter_served`); both files must
hold the same questions (matched by qa_id). Not part of the test suite.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

MODES = {"closed book": "", "open book": "_open_book", "served": "_served"}
METRICS = ("rouge_l", "token_f1", "echo", "reference_recall")


def per_question(path: Path) -> dict[str, dict]:
    """A result's per-question rows by qa_id, with each row's reference recall (see reference_recall)."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:  # the CSV writes booleans as text
            row.update({k: v == "True" for k, v in row.items() if v in ("True", "False")})
    else:
        rows = json.loads(path.read_text())["per_question"]
    for row in rows:
        for key in [k for k in row if k.endswith("_answer")]:
            row[f"{key[:-len('_answer')]}_reference_recall"] = reference_recall(row["reference"], row[key] or "")
    return {row["qa_id"]: row for row in rows}


def reference_recall(reference: str, answer: str) -> float:
    """Share of the reference's distinct content words (stemmed) that the answer holds: how much of the answer a
    reply gives, whatever else it says (ROUGE-L's F1 also charges a reply for its length)."""
    from slm_assets.text import content_words, stem

    wanted, given = ({stem(w) for w in content_words(text)} for text in (reference, answer))
    return len(wanted & given) / len(wanted) if wanted else 0.0


def polarity(text: str) -> str:
    """"yes" or "no" when the text opens with that word (as the grounding check reads it), else "neither"."""
    from slm_assets.text import YES_NO_OPENING

    opening = YES_NO_OPENING.match(text or "")
    return opening[1].lower() if opening else "neither"


def polarity_counts(rows: dict[str, dict], ids: list[str], row: str) -> dict[str, int]:
    """On the questions whose reference opens with Yes or No: answers opening with the same word (right), the
    other one (wrong), or neither."""
    counts = {"right": 0, "wrong": 0, "neither": 0}
    for i in ids:
        wanted, given = polarity(rows[i]["reference"]), polarity(rows[i][f"{row}_answer"])
        if wanted != "neither":
            counts["neither" if given == "neither" else "right" if given == wanted else "wrong"] += 1
    return counts


def split_of(gold: Path) -> dict[str, str]:
    """qa_id -> dev or holdout, as the gold file marks them (the benchmark's own reading of the file)."""
    from slm_assets.evaluate.domain_benchmark import gold_rows

    return {row["qa_id"]: row.get("split", "all") for row in gold_rows(gold, "")[0]}


def compared(before: dict[str, dict], after: dict[str, dict], ids: list[str], models: list[str]) -> dict:
    from slm_assets.evaluate.gate import paired_bootstrap
    from slm_assets.text import is_abstention

    table = {}
    for model in models:
        for suffix in MODES.values():
            row = f"{model}{suffix}"
            if f"{row}_answer" not in before[ids[0]]:
                continue
            for metric in METRICS:
                scored = [i for i in ids if metric != "reference_recall" or before[i].get("answerable", True)]
                a = [float(after[i][f"{row}_{metric}"]) for i in scored]
                b = [float(before[i][f"{row}_{metric}"]) for i in scored]
                diff, low, high = paired_bootstrap(a, b)
                table[f"{row} {metric}"] = {"before": round(sum(b) / len(b), 4), "after": round(sum(a) / len(a), 4),
                                            "difference": round(diff, 4), "interval_95": [round(low, 4), round(high, 4)]}
            for name, answerable in (("declined_unanswerable", False), ("answered_answerable", True)):
                part = [i for i in ids if bool(before[i].get("answerable", True)) == answerable]
                if part:
                    share = [sum(is_abstention(r[i][f"{row}_answer"] or "") != answerable for i in part) / len(part)
                             for r in (before, after)]
                    table[f"{row} {name}"] = {"before": round(share[0], 4), "after": round(share[1], 4),
                                              "questions": len(part)}
            table[f"{row} yes_no_polarity"] = {"before": polarity_counts(before, ids, row),
                                               "after": polarity_counts(after, ids, row)}
    table["answers_changed"] = {f"{m}{s}": sum(before[i][f"{m}{s}_answer"] != after[i][f"{m}{s}_answer"] for i in ids)
                                for m in models for s in MODES.values() if f"{m}{s}_answer" in before[ids[0]]}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--gold", type=Path, required=True, help="the gold JSONL (for its dev / holdout marks)")
    parser.add_argument("--label", required=True, help="what changed, for the JSON and the table")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=["lora_adapter"], help="the models whose rows are compared")
    args = parser.parse_args()

    before, after, splits = per_question(args.before), per_question(args.after), split_of(args.gold)
    if set(before) != set(after):
        raise SystemExit(f"{args.before} and {args.after} hold different questions")
    ids = sorted(before)
    parts = {"all": ids, **{part: [i for i in ids if splits.get(i) == part] for part in ("dev", "holdout")}}
    result = {"label": args.label, "before": str(args.before), "after": str(args.after),
              **{part: compared(before, after, part_ids, args.models) for part, part_ids in parts.items() if part_ids}}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"| {args.label} | before | after | difference (95 % interval) |\n|---|---|---|---|")
    for name, scores in result["all"].items():
        if "interval_95" in scores:
            low, high = scores["interval_95"]
            print(f"| {name} | {scores['before']:.3f} | {scores['after']:.3f} | {scores['difference']:+.3f} "
                  f"[{low:+.3f}, {high:+.3f}] |")
        elif "questions" in scores:
            print(f"| {name} ({scores['questions']}) | {scores['before']:.3f} | {scores['after']:.3f} | |")
    for name, scores in result["all"].items():
        if name.endswith("yes_no_polarity"):
            print(f"{name}: {scores['before']} -> {scores['after']}")
    print(f"answers changed: {result['all']['answers_changed']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
