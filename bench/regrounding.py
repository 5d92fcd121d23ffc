"""Re-score the served rows of a bench/gold.py result with the grounding settings as they are now, without
generating again: the served answer is a pure function of the model's open-book answer, the question and the
retrieved passages, and the result file keeps every open-book answer.

    SLM_WAREHOUSE_DIR=... .venv/bin/python bench/regrounding.py bench/results/gold_ev_public.json
    SLM_WAREHOUSE_DIR=... .venv/bin/python bench/regrounding.py <benchmark run>/per_question.csv --domain ev_charging

Retrieves the passages again from the domain's index (the same top-k search the benchmark ran), applies
`ground_answer` with the domain's `grounding` settings, and prints ROUGE-L, echo, abstention and answering rates
of `<model>_served` for all questions, dev and holdout. Writes bench/results/<input name>_regrounded.json.
"""

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path, help="a bench/gold.py JSON with per_question rows, or the "
                        "per_question.csv of a benchmark_report run on gold questions")
    parser.add_argument("--domain", help="the domain of a per_question.csv")
    parser.add_argument("--out", type=Path, help="where to write (default bench/results/<input>_regrounded.json)")
    parser.add_argument("--grounding", action="append", default=[], metavar="FIELD=JSON",
                        help="override one field of the domain's grounding settings, e.g. "
                        "require_asked_quantity=false (repeatable)")
    args = parser.parse_args()

    from slm_assets.domains import load_domain
    from slm_assets.evaluate.benchmark import behaviour
    from slm_assets.evaluate.metrics import score_pair
    from slm_assets.evaluate.user_questions import read_questions
    from slm_assets.retrieval.grounding import ground_answer
    from slm_assets.retrieval.index import ChunkIndex
    from slm_assets.settings import Settings

    if args.result.suffix == ".csv":
        import csv

        with args.result.open(newline="") as f:
            saved = {"domain": args.domain, "per_question": list(csv.DictReader(f))}
    else:
        saved = json.loads(args.result.read_text())
    spec = load_domain(saved["domain"])
    overrides = {field: json.loads(value) for field, value in (o.split("=", 1) for o in args.grounding)}
    spec = spec.model_copy(update={"grounding": spec.grounding.model_copy(update=overrides)})
    index = ChunkIndex.load(Settings().warehouse_dir / "artifacts" / spec.name / "index")
    gold = {f"line-{q['line']:05d}": q for q in read_questions(ROOT / spec.benchmark.gold_questions)}
    rows = saved["per_question"]
    models = [k.removesuffix("_open_book_answer") for k in rows[0] if k.endswith("_open_book_answer")]
    k = spec.split.context.k_retrieve
    served = {m: [] for m in models}
    for row in rows:
        passages = [hit.text for hit in index.search(row["question"], k)]
        for model in models:
            reply = ground_answer(row["question"], row[f"{model}_open_book_answer"], passages, spec.grounding)
            served[model].append({"qa_id": row["qa_id"], "answer": reply.text, "mode": reply.mode,
                                  "rouge_l": score_pair(reply.text, row["reference"])["rouge_l"]})
    scores: dict = {}
    for model, answers in served.items():
        for split in ("all", "dev", "holdout"):
            picked = [(a, gold[a["qa_id"]]) for a in answers if split == "all" or gold[a["qa_id"]]["split"] == split]
            source = [{"question": q["question"], "answerable": q.get("answerable", True)} for _, q in picked]
            before = [float(r[f"{model}_served_rouge_l"]) for r in rows if f"{model}_served_rouge_l" in r
                      and (split == "all" or gold[r["qa_id"]]["split"] == split)]
            scores.setdefault(f"{model}_served", {})[split] = {
                "n": len(picked), "rouge_l": sum(a["rouge_l"] for a, _ in picked) / max(len(picked), 1),
                "rouge_l_as_saved": sum(before) / len(before) if before else None,
                **behaviour(source, [a["answer"] for a, _ in picked]),
                "modes": {m: sum(a["mode"] == m for a, _ in picked) for m in ("generated", "extractive", "not_covered")}}
    for name, by_split in scores.items():
        for split, v in by_split.items():
            saved_text = "" if v["rouge_l_as_saved"] is None else f" (saved {v['rouge_l_as_saved']:.3f})"
            print(f"{name} {split}: ROUGE-L {v['rouge_l']:.3f}{saved_text} echo {v['echo_rate']:.3f} abstain "
                  f"{v['abstain_unanswerable']:.3f} answered {v['answered_answerable']:.3f} {v['modes']}")
    out = args.out or ROOT / "bench" / "results" / f"{args.result.stem}_regrounded.json"
    out.write_text(json.dumps({
        "what": "served rows re-scored from saved open-book answers with the grounding settings of this commit",
        "from": str(args.result), "adapter": saved.get("adapter"), "grounding": spec.grounding.model_dump(),
        "scores": scores, "answers": served, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
