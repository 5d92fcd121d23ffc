"""Where served answers come from, and what is left to gain: from the saved answers of bench/gold.py runs, with no
generation.

    .venv/bin/python bench/served_headroom.py \
        ev_public=/work/wh3:bench/results/gold_ev_public_steps80.json \
        ev_charging=/work/exp/wh_min:bench/results/gold_ev_charging_final_2026-11-30.json

Each argument is DOMAIN=WAREHOUSE:RESULT (the warehouse holds the domain's retrieval index, the result the
open-book answers). For every model with saved open-book answers, the served answer is rebuilt twice from the same
passages: with the domain's grounding settings (as served) and with the model's answer never kept (`min_support`
above 1, so every reply is the extractive fallback or the abstention). Their paired difference is what the model
adds to served answers. On the answerable questions it also scores the passage sentence the fallback quotes and
the best sentence a perfect chooser could quote from the same top-k passages (and from the top 4 and 8): the
headroom left in choosing the sentence, and in retrieving more. Writes bench/results/served_headroom.json and
prints two tables. Not part of the test suite.
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

SPLITS = ("all", "dev", "holdout")
ORACLE_K = (4, 8)


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def by_split(scores: list[float], splits: list[str]) -> dict[str, float]:
    return {s: mean([v for v, where in zip(scores, splits, strict=True) if s in ("all", where)]) for s in SPLITS}


def served_versus_extractive(rows: list[dict], passages: dict[str, list[str]], split: dict[str, str],
                             grounding) -> dict:
    """Per model: served ROUGE-L as shipped and with the model's answer never kept, the paired difference, and how
    often each mode answered. The never-kept reply does not depend on the model, so it is built once per
    question."""
    from slm_assets.evaluate.gate import paired_bootstrap
    from slm_assets.evaluate.metrics import rouge_l
    from slm_assets.retrieval.grounding import ground_answer

    never_kept = grounding.model_copy(update={"min_support": 1.01, "trust_model_abstention": False})
    splits = [split[r["qa_id"]] for r in rows]
    extractive = [rouge_l(ground_answer(r["question"], "", passages[r["qa_id"]], never_kept).text, r["reference"])
                  for r in rows]
    out = {}
    for model in [k.removesuffix("_open_book_answer") for k in rows[0] if k.endswith("_open_book_answer")]:
        served, modes = [], {}
        for row in rows:
            reply = ground_answer(row["question"], row[f"{model}_open_book_answer"], passages[row["qa_id"]], grounding)
            served.append(rouge_l(reply.text, row["reference"]))
            modes[reply.mode] = modes.get(reply.mode, 0) + 1
        gain, low, high = paired_bootstrap(served, extractive)
        out[model] = {"served": by_split(served, splits), "extractive_only": by_split(extractive, splits),
                      "served_minus_extractive": {"mean": gain, "interval": [low, high], "n": len(rows)},
                      "modes": modes}
    return out


def sentence_headroom(index, gold: list[dict], k: int, grounding) -> dict:
    """On answerable questions (`gold_rows` rows): ROUGE-L of the sentence the fallback quotes, and of the best
    sentence in the top k, 4 and 8 passages (headings never count, as the fallback never quotes one)."""
    from slm_assets.evaluate.metrics import rouge_l
    from slm_assets.retrieval.grounding import coverage_signals, passage_sentences

    asked = [row for row in gold if row["answerable"]]
    picked, best = [], {depth: [] for depth in (k, *ORACLE_K)}
    for row in asked:
        question, reference = row["question"], row["completion"][0]["content"]
        hits = index.search(question, max(best))
        top = hits[:k]
        signals = coverage_signals(question, [h.text for h in top], passage_vectors=index.vectors(top))
        quoted = signals.best(grounding, 1)
        picked.append(rouge_l(quoted[0].text, reference) if quoted else 0.0)
        for depth in best:
            texts = [h.text for h in hits[:depth]]
            best[depth].append(max((rouge_l(s.text, reference) for s in passage_sentences(question, texts)
                                    if not s.heading), default=0.0))
    splits = [row["split"] for row in asked]
    return {"n_answerable": len(asked), "quoted": by_split(picked, splits),
            **{f"best_in_top_{depth}": by_split(scores, splits) for depth, scores in best.items()}}


def measure(domain: str, warehouse: Path, result: Path) -> dict:
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.retrieval.index import ChunkIndex

    spec = load_domain(domain)
    index = ChunkIndex.load(warehouse / "artifacts" / spec.name / "index")
    if index is None:
        raise SystemExit(f"{domain}: no retrieval index under {warehouse}/artifacts/{spec.name}/index")
    gold, _evidence = gold_rows(gold_path(spec), spec.system_prompt)
    rows = json.loads(result.read_text())["per_question"]
    k = spec.split.context.k_retrieve
    passages = {row["qa_id"]: [hit.text for hit in index.search(row["question"], k)] for row in rows}
    split = {row["qa_id"]: row["split"] for row in gold}
    return {"result": str(result), "k_retrieve": k, "grounding": spec.grounding.model_dump(),
            "models": served_versus_extractive(rows, passages, split, spec.grounding),
            "sentences": sentence_headroom(index, gold, k, spec.grounding)}


def tables(measured: dict) -> str:
    lines = ["| domain | model | served (dev / holdout) | extractive only (dev / holdout) | served minus extractive "
             "[95 % interval] |", "|---|---|---|---|---|"]
    for domain, m in measured.items():
        for model, r in m["models"].items():
            d = r["served_minus_extractive"]
            lines.append(f"| {domain} | {model} | {r['served']['all']:.3f} ({r['served']['dev']:.3f} / "
                         f"{r['served']['holdout']:.3f}) | {r['extractive_only']['all']:.3f} "
                         f"({r['extractive_only']['dev']:.3f} / {r['extractive_only']['holdout']:.3f}) | "
                         f"{d['mean']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}] |")
    lines += ["", "| domain | answerable | quoted sentence | best sentence, same passages | best, top 4 | best, top 8 |",
              "|---|---|---|---|---|---|"]
    for domain, m in measured.items():
        s, k = m["sentences"], m["k_retrieve"]
        cells = [s["quoted"], s[f"best_in_top_{k}"], *(s[f"best_in_top_{d}"] for d in ORACLE_K)]
        lines.append(f"| {domain} | {s['n_answerable']} | " + " | ".join(
            f"{c['all']:.3f} ({c['dev']:.3f} / {c['holdout']:.3f})" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="+", help="DOMAIN=WAREHOUSE:RESULT_JSON")
    args = parser.parse_args()
    measured = {}
    for pair in args.domains:
        domain, rest = pair.split("=", 1)
        warehouse, result = rest.split(":", 1)
        measured[domain] = measure(domain, Path(warehouse), Path(result))
    table = tables(measured)
    print(table)
    out = ROOT / "bench" / "results" / "served_headroom.json"
    out.write_text(json.dumps({
        "what": "served answers as shipped vs the extractive fallback alone (model answer never kept), from saved "
                "gold-set answers; the quoted sentence vs the best sentence in the retrieved passages",
        "domains": measured, "table": table, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average": list(os.getloadavg())}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
