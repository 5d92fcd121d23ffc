"""What the teacher's yes/no pairs say: in a warehouse's current synthetic_qa_5000, the accepted pairs per question
type and opening word ("Yes", "No" or other), and every pair answered "No" that a gate rejected, with its reason.

    .venv/bin/python bench/teacher_pairs.py WAREHOUSE:DOMAIN [WAREHOUSE:DOMAIN ...] --out bench/results/X.json

Reads the DuckDB file read-only. Not part of the test suite.
"""

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

OPENING = "case when answer like 'Yes%' then 'Yes' when answer like 'No,%' then 'No' else 'other' end"


def pair_counts(warehouse: Path, domain: str) -> dict:
    from slm_assets.warehouse import connect, fetch_dicts

    with connect(warehouse / "slm.duckdb", read_only=True) as con:
        accepted = fetch_dicts(con, f"""select question_type, {OPENING} as opening, count(*) as pairs
            from current_qa_pairs where domain = ? and status = 'accepted' group by all order by all""", [domain])
        rejected_no = fetch_dicts(con, """select question, answer, reject_reason from current_qa_pairs
            where domain = ? and status <> 'accepted' and answer like 'No,%' order by question""", [domain])
        versions = [r[0] for r in con.execute("select distinct template_version from current_qa_pairs "
                                              "where domain = ?", [domain]).fetchall()]
    return {"template_versions": versions, "accepted": accepted, "rejected_no_pairs": rejected_no}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", help="WAREHOUSE:DOMAIN")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"what": __doc__.split("\n\n")[0], "machine": platform.platform(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "sets": {}}
    for spec in args.sets:
        warehouse, domain = spec.rsplit(":", 1)
        result["sets"][spec] = found = pair_counts(Path(warehouse), domain)
        yes_no = {r["opening"]: r["pairs"] for r in found["accepted"] if r["question_type"] == "yes_no"}
        reasons = [r["reject_reason"] for r in found["rejected_no_pairs"]]
        print(f"{domain}: accepted yes/no {yes_no}; rejected 'No' pairs {len(reasons)}: {reasons}")
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
