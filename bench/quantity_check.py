"""Does declining questions that ask for a quantity the passages do not state (retrieval/quantities.py) tell the
gold sets' unanswerable questions from the answerable ones better than the coverage score alone? No model
generates anything: like bench/grounding.py it looks only at the question and the retrieved passages.

    .venv/bin/python bench/quantity_check.py ev_public=/work/wh2 ev_charging=/work/wh1 [--out FILE]

For every gold question: the top-k passages as the server retrieves them, the coverage verdict alone and as
shipped (with `require_asked_quantity`), the kinds of quantity the question asks for, and where a value of that
kind stands: in any passage, or in one of the `--top-sentences` sentences the fallback would quote. Reports
answered (answerable) and declined (unanswerable) per domain and split for the coverage rule alone and with each
quantity rule, and lists the questions whose verdict the quantity rule changes. Writes bench/results/quantity_check.json (or `--out`).
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

from bench.grounding import rates  # noqa: E402  (answered and abstained shares, as bench/grounding.py reports them)


def question_rows(domain: str, warehouse: Path, top_sentences: int) -> list[dict]:
    from slm_assets.domains import load_domain
    from slm_assets.retrieval.config import GroundingConfig
    from slm_assets.retrieval.grounding import coverage_signals
    from slm_assets.retrieval.index import ChunkIndex
    from slm_assets.retrieval.quantities import asked_quantities, states_quantity

    spec = load_domain(domain)
    index = ChunkIndex.load(warehouse / "artifacts" / spec.name / "index")
    if index is None:
        raise SystemExit(f"{domain}: no retrieval index under {warehouse}/artifacts/{spec.name}/index")
    config, coverage_alone = GroundingConfig(), GroundingConfig(require_asked_quantity=False)
    rows = []
    for line in (ROOT / spec.benchmark.gold_questions).read_text().splitlines():
        gold = json.loads(line)
        passages = [hit.text for hit in index.search(gold["question"], spec.split.context.k_retrieve)]
        signals = coverage_signals(gold["question"], passages)
        kinds = asked_quantities(gold["question"])
        quoted = [s.text for s in signals.best(config, top_sentences)]
        rows.append({"domain": domain, "id": gold["id"], "split": gold["split"], "answerable": gold["answerable"],
                     "question": gold["question"], "kinds": sorted(kinds), "covered": signals.covered(coverage_alone),
                     "covered_shipped": signals.covered(config),
                     "in_passages": states_quantity(" ".join(passages), kinds),
                     "in_quoted": any(states_quantity(t, kinds) for t in quoted) if kinds else True})
    return rows


RULES = {
    "coverage alone (require_asked_quantity: false)": lambda r: r["covered"],
    "coverage and quantity in passages (shipped)": lambda r: r["covered_shipped"],
    "coverage and quantity in quoted sentences": lambda r: r["covered"] and r["in_quoted"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="+", help="DOMAIN=WAREHOUSE_DIR")
    parser.add_argument("--top-sentences", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quantity_check.json")
    args = parser.parse_args()
    rows = [r for pair in args.domains
            for r in question_rows(pair.split("=")[0], Path(pair.split("=", 1)[1]), args.top_sentences)]
    cells = [(d, s) for d in dict.fromkeys(r["domain"] for r in rows) for s in ("dev", "holdout")]
    table = {name: {f"{d}/{s}": rates([r for r in rows if (r["domain"], r["split"]) == (d, s)], rule)
                    for d, s in cells} for name, rule in RULES.items()}
    print("| rule | domain/split | answered (answerable) | declined (unanswerable) |\n|---|---|---|---|")
    for name, by_cell in table.items():
        for where, r in by_cell.items():
            print(f"| {name} | {where} | {r['answered_answerable']:.3f} of {r['n_answerable']} | "
                  f"{r['abstained_unanswerable']:.3f} of {r['n_unanswerable']} |")
    changed = [r for r in rows if r["covered"] and not (r["in_passages"] and r["in_quoted"])]
    print("\nquestions the quantity rules decline that coverage alone answers:")
    for r in changed:
        print(f"  {r['domain']}/{r['split']} {'answerable' if r['answerable'] else 'UNANSWERABLE'} {r['kinds']} "
              f"passages={r['in_passages']} quoted={r['in_quoted']}: {r['question']}")
    args.out.write_text(json.dumps({
        "what": __doc__.split("\n\n")[0], "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
        "top_sentences": args.top_sentences, "rates": table, "changed": changed}, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
