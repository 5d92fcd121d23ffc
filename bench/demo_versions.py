"""What a warehouse holds after each `make demo`: its size by part, the registered versions with their aliases, and
whether `slm-assets lineage --version N --json` resolves for each (with a hash of its output, so a later
record shows whether an old version's lineage changed).

    make demo && .venv/bin/python bench/demo_versions.py --label v1
    cp samples/ev_charging/extra/idle-fees-and-charging-etiquette.md warehouse/inbox/ev_charging/
    make demo && .venv/bin/python bench/demo_versions.py --label v2
    .venv/bin/slm-assets gc --domain ev_charging --keep 1 && .venv/bin/python bench/demo_versions.py --label after-gc

Each call appends one record to bench/results/demo_versions.json (from the warehouse of the checkout it runs in,
or SLM_WAREHOUSE_DIR). Not part of the test suite.
"""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
OUT = ROOT / "bench" / "results" / "demo_versions.json"


def folder_mb(path: Path) -> float:
    """MB of a folder's files, or of one file."""
    if not path.exists():
        return 0.0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 2)


def sizes(warehouse: Path, domain: str) -> dict:
    """MB per part; the converted base models (`models/`, shared by every version) are left out."""
    from slm_assets.warehouse import connect

    with connect(warehouse / "slm.duckdb") as con:
        con.execute("checkpoint")
        used, block = con.execute("select used_blocks, block_size from pragma_database_size()").fetchone()
    artifacts = warehouse / "artifacts" / domain
    parts = {f"artifacts/{kind.name}": folder_mb(kind) for kind in sorted(artifacts.iterdir()) if kind.is_dir()}
    parts |= {"duckdb_used": round(used * block / 2**20, 2), "duckdb_file": folder_mb(warehouse / "slm.duckdb"),
              "mlruns": folder_mb(warehouse / "mlruns"), "mlflow.db": folder_mb(warehouse / "mlflow.db")}
    parts["total_without_duckdb_slack"] = round(sum(v for k, v in parts.items() if k != "duckdb_file"), 2)
    return parts


def versions(domain: str) -> list[dict]:
    """Registered versions, their aliases, and whether their lineage resolves (exit code, output hash)."""
    from mlflow.tracking import MlflowClient

    from slm_assets.domains import load_domain
    from slm_assets.export.registry import registered_name
    from slm_assets.settings import get_settings

    settings, spec = get_settings(), load_domain(domain)
    name = registered_name(spec.export.registered_model_prefix, domain)
    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    aliases = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    out = []
    for version in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        number = str(version.version)  # an int in MLflow 3's model version entities
        shown = subprocess.run([sys.executable, "-m", "slm_assets.cli", "lineage", domain, "--version", number,
                                "--json"], capture_output=True, text=True, cwd=ROOT)
        chain = json.loads(shown.stdout) if shown.returncode == 0 else {}
        promotion = version.tags.get("promotion") or client.get_run(version.run_id).data.tags.get("promotion", "")
        out.append({"version": number, "aliases": aliases.get(number, []),
                    "run_id": version.run_id, "promotion": promotion,
                    "lineage_exit": shown.returncode, "lineage_sha256": hashlib.sha256(shown.stdout.encode()).hexdigest(),
                    "lineage_sources": len(chain.get("sources", [])), "lineage_qa_pairs": chain.get("qa_pairs_trained_on"),
                    "lineage_error": shown.stderr.strip()[-300:] if shown.returncode else ""})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--domain", default="ev_charging")
    args = parser.parse_args()
    from slm_assets.settings import get_settings

    record = {"label": args.label, "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
              "load_average": os.getloadavg(), "sizes_mb": sizes(get_settings().warehouse_dir, args.domain),
              "versions": versions(args.domain)}
    records = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*records, record], indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
