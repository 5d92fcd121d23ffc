"""Fit the grounding check on the gold sets' dev questions and report it on their holdout questions: the "do the
passages address this question?" rule, and which passage sentence the extractive fallback quotes. Each domain is named with the warehouse that holds its index. No model generates anything: the rule looks only at the question and the
retrieved passages (retrieval/grounding.py, `coverage_signals`): minutes on 2 cores, not the hour of bench/gold.py.

    .venv/bin/python bench/grounding.py ev_public=/work/wh2 ev_charging=/work/wh1

For every gold question it retrieves the top-k passages as the server does (the domain's `split.context.k_retrieve`)
and records the lexical share and the two MiniLM cosines. On the dev questions of all named domains together it
searches the two weights and the cut (grid below) for the most abstentions on unanswerable questions while still
answering at least `--min-answered` of the answerable ones, then reports answered/abstained per domain and split for
that rule and for the lexical rule alone (`dense: false`, `min_relevance`). For the fallback it scores, on the
answerable questions, the ROUGE-L against the reference answer of the sentence each ranking quotes (cosine +
w x share for each w in FALLBACK_WEIGHTS, and the lexical ranking). Holdout questions never choose anything.
Writes bench/results/grounding.json (or `--out`) and prints two tables.
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

RELEVANCE_WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
PASSAGE_WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]
CUTS = [round(0.3 + 0.005 * i, 3) for i in range(261)]
FALLBACK_WEIGHTS = [0.0, 0.25, 0.5, 1.0, 2.0]


def question_signals(domain: str, warehouse: Path) -> list[dict]:
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.metrics import rouge_l
    from slm_assets.retrieval.config import GroundingConfig
    from slm_assets.retrieval.grounding import coverage_signals
    from slm_assets.retrieval.index import ChunkIndex

    spec = load_domain(domain)
    index = ChunkIndex.load(warehouse / "artifacts" / spec.name / "index")
    if index is None:
        raise SystemExit(f"{domain}: no retrieval index under {warehouse}/artifacts/{spec.name}/index")
    gold = ROOT / spec.benchmark.gold_questions
    out = []
    for line in gold.read_text().splitlines():
        row = json.loads(line)
        passages = [hit.text for hit in index.search(row["question"], spec.split.context.k_retrieve)]
        signals = coverage_signals(row["question"], passages)
        rankings = {f"dense w={w}": GroundingConfig(fallback_share_weight=w) for w in FALLBACK_WEIGHTS}
        rankings["lexical"] = GroundingConfig(dense=False)
        fallback = {name: rouge_l(" ".join(s.text for s in signals.best(config)), row["answer"])
                    for name, config in rankings.items()}
        out.append({"domain": domain, "id": row["id"], "split": row["split"], "answerable": row["answerable"],
                    "relevance": signals.relevance, "sentence_cosine": signals.sentence_cosine,
                    "passage_cosine": signals.passage_cosine, "fallback_rouge_l": fallback})
    return out


def rates(rows: list[dict], covered) -> dict:
    answerable = [covered(r) for r in rows if r["answerable"]]
    unanswerable = [not covered(r) for r in rows if not r["answerable"]]
    return {"answered_answerable": sum(answerable) / max(len(answerable), 1),
            "abstained_unanswerable": sum(unanswerable) / max(len(unanswerable), 1),
            "n_answerable": len(answerable), "n_unanswerable": len(unanswerable)}


def score(row: dict, relevance_weight: float, passage_weight: float) -> float:
    return row["sentence_cosine"] + relevance_weight * row["relevance"] + passage_weight * row["passage_cosine"]


def fit(dev: list[dict], min_answered: float) -> dict:
    best = None
    for wr in RELEVANCE_WEIGHTS:
        for wp in PASSAGE_WEIGHTS:
            for cut in CUTS:
                r = rates(dev, lambda row, wr=wr, wp=wp, cut=cut: score(row, wr, wp) >= cut)
                key = (r["abstained_unanswerable"], r["answered_answerable"])
                if r["answered_answerable"] >= min_answered and (best is None or key > best[0]):
                    best = (key, {"relevance_weight": wr, "passage_cosine_weight": wp, "min_coverage": cut})
    if best is None:
        raise SystemExit(f"no rule answers {min_answered:.0%} of the answerable dev questions")
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="+", help="DOMAIN=WAREHOUSE_DIR")
    parser.add_argument("--min-answered", type=float, default=0.92)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grounding.json")
    args = parser.parse_args()
    from slm_assets.retrieval.config import GroundingConfig

    rows = [r for pair in args.domains for r in question_signals(pair.split("=")[0], Path(pair.split("=", 1)[1]))]
    rule = fit([r for r in rows if r["split"] == "dev"], args.min_answered)
    shipped = GroundingConfig()
    rules = {
        "fitted": lambda r: score(r, rule["relevance_weight"], rule["passage_cosine_weight"]) >= rule["min_coverage"],
        "shipped": lambda r: score(r, shipped.relevance_weight, shipped.passage_cosine_weight) >= shipped.min_coverage,
        "lexical": lambda r: r["relevance"] >= shipped.min_relevance,
    }
    table = {name: {f"{d}/{s}": rates([r for r in rows if r["domain"] == d and r["split"] == s], rule_fn)
                    for d in dict.fromkeys(r["domain"] for r in rows) for s in ("dev", "holdout")}
             for name, rule_fn in rules.items()}
    print(f"fitted on dev (answer at least {args.min_answered:.0%} of answerable): {rule}")
    print("| rule | domain/split | answered (answerable) | abstained (unanswerable) |\n|---|---|---|---|")
    for name, cells in table.items():
        for where, r in cells.items():
            print(f"| {name} | {where} | {r['answered_answerable']:.3f} of {r['n_answerable']} | "
                  f"{r['abstained_unanswerable']:.3f} of {r['n_unanswerable']} |")
    groups = {f"{d}/{s}": [r for r in rows if r["domain"] == d and r["split"] == s and r["answerable"]]
              for d in dict.fromkeys(r["domain"] for r in rows) for s in ("dev", "holdout")}
    fallback = {name: {where: sum(r["fallback_rouge_l"][name] for r in group) / max(len(group), 1)
                       for where, group in groups.items()} for name in rows[0]["fallback_rouge_l"]}
    print("\n| fallback ranking | " + " | ".join(groups) + " |\n|---|" + "---|" * len(groups))
    for name, cells in fallback.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells.values()) + " |")
    out = args.out
    out.write_text(json.dumps({
        "what": "grounding coverage rule and fallback ranking chosen on gold dev questions, reported on holdout", "fitted": rule,
        "shipped": {k: getattr(shipped, k) for k in ("relevance_weight", "passage_cosine_weight", "min_coverage",
                                                     "min_relevance", "fallback_share_weight")},
        "min_answered": args.min_answered, "rates": table, "fallback_rouge_l_answerable": fallback, "questions": rows,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
