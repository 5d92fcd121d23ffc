"""Warehouse growth per extra data version of a demo-like domain, and what `slm-assets gc` gives back.

The ev_charging samples (HTML + PDF) with the demo's settings (offline teacher, 5,000-pair target, bundled
SmolLM2 tokenizer) are materialised raw_docs -> clean_chunks -> synthetic_qa_5000 -> sft_dataset; then, per
extra version, one document is added, one edited and one removed and the four assets run again. Measured:
DuckDB bytes in use (blocks after a checkpoint) and the artifact folders' bytes. Training is not run: adapter
folders (a few MB per version for LoRA on SmolLM2) are not included.

    .venv/bin/python bench/warehouse_growth.py [--versions 3]

Writes bench/results/warehouse_growth.json. Not part of the test suite.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dagster as dg  # noqa: E402
import yaml  # noqa: E402

from slm_assets.defs import ingest, process, synth, train  # noqa: E402
from slm_assets.resources.domains import DomainsResource  # noqa: E402
from slm_assets.resources.teacher import TeacherResource  # noqa: E402
from slm_assets.resources.warehouse import WarehouseResource  # noqa: E402
from slm_assets.retention import carry_out, plan_retention  # noqa: E402
from slm_assets.warehouse import connect  # noqa: E402

SAMPLES = ROOT / "samples" / "ev_charging"
ASSETS = [ingest.raw_docs, process.clean_chunks, synth.synthetic_qa_5000, train.sft_dataset]


def sizes(warehouse: Path) -> dict:
    with connect(warehouse / "slm.duckdb") as con:
        con.execute("checkpoint")
        used, block = con.execute("select used_blocks, block_size from pragma_database_size()").fetchone()
    artifacts = sum(p.stat().st_size for p in (warehouse / "artifacts").rglob("*") if p.is_file())
    return {"duckdb_used_mb": round(used * block / 2**20, 3), "artifacts_mb": round(artifacts / 2**20, 3),
            "duckdb_file_mb": round((warehouse / "slm.duckdb").stat().st_size / 2**20, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=3, help="Data versions built (the first plus extra ones).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warehouse-growth-"))
    corpus, warehouse, home = work / "corpus", work / "warehouse", work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    shutil.copytree(SAMPLES / "html", corpus)
    for pdf in sorted((SAMPLES / "pdf").glob("*.pdf")):
        shutil.copy(pdf, corpus / pdf.name)
    spare = sorted(corpus.glob("*.html"))[-args.versions:]  # held back, added one per extra version
    for path in spare:
        path.rename(work / path.name)
    spec = yaml.safe_load((ROOT / "domains" / "ev_charging.yaml").read_text())
    spec["sources"] = {"folders": [str(corpus)]}
    (work / "domains").mkdir()
    (work / "domains" / "ev_charging.yaml").write_text(yaml.safe_dump(spec))
    resources = {"warehouse": WarehouseResource(root=str(warehouse),
                                                models_cache=str(ROOT / "warehouse" / "models")),
                 "domains": DomainsResource(domains_dir=str(work / "domains")),
                 "teacher": TeacherResource(provider_override="offline")}
    rows = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("domain", ["ev_charging"])
        for version in range(1, args.versions + 1):
            if version > 1:  # one added, one edited, one removed
                shutil.move(work / spare[version - 2].name, corpus / spare[version - 2].name)
                edited, removed = sorted(corpus.glob("*.html"))[version - 2: version]
                edited.write_text(edited.read_text().replace("</body>", f"<p>Revision {version}: sites now publish "
                                                             "live connector status every minute.</p></body>"))
                removed.unlink()
            started = time.monotonic()
            assert dg.materialize(ASSETS, partition_key="ev_charging", instance=instance, resources=resources).success
            rows.append({"version": version, "seconds": round(time.monotonic() - started, 1), **sizes(warehouse)})
            print(rows[-1], flush=True)
    with connect(warehouse / "slm.duckdb") as con:
        plan = carry_out(con, plan_retention(con, warehouse / "artifacts", "ev_charging", 1, []), "ev_charging")
    after_gc = sizes(warehouse)
    extra = [b["duckdb_used_mb"] - a["duckdb_used_mb"] for a, b in zip(rows, rows[1:], strict=False)]
    extra_artifacts = [b["artifacts_mb"] - a["artifacts_mb"] for a, b in zip(rows, rows[1:], strict=False)]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
        "domain": "ev_charging samples, demo settings (offline teacher, 5000-pair target)",
        "versions": rows,
        "duckdb_mb_per_extra_version": round(sum(extra) / len(extra), 3) if extra else None,
        "artifacts_mb_per_extra_version": round(sum(extra_artifacts) / len(extra_artifacts), 3) if extra else None,
        "gc_keep_1": {"snapshots_deleted": len(plan.snapshots), "rows_deleted": plan.rows,
                      "folders_deleted": len(plan.folders), "file_mb_freed": round(plan.file_bytes / 2**20, 3),
                      "warehouse_mb_freed": round(plan.warehouse_bytes / 2**20, 3), **after_gc},
    }
    out = ROOT / "bench" / "results" / "warehouse_growth.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
