"""Trace a registered model version, old or new, back to the documents it learned from.

registry version -> bundle manifest's lineage record -> Dagster runs and materialisations (data and code
versions) -> MLflow runs -> data snapshots -> QA pairs -> chunks -> documents -> source URLs / paths and pages.
Every step reads the version's own immutable snapshots, never the current tables.
"""

import json
from collections import defaultdict
from pathlib import Path

from slm_assets.artifacts import BUNDLE_TAG


class LineageError(LookupError):
    pass


def resolve_version(client, name: str, version: str | None):
    from mlflow.exceptions import MlflowException

    try:
        if version:
            return client.get_model_version(name, str(version))
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise LineageError(f"no registered model {name!r}: {exc}") from exc
    if not versions:
        raise LineageError(f"registered model {name!r} has no versions yet: materialise gguf_export first")
    return max(versions, key=lambda v: int(v.version))


def dagster_materializations(instance, run_id: str) -> list[dict]:
    """Every asset materialisation of the run, with its data and code versions."""
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    out = []
    for record in records:
        mat = record.event_log_entry.asset_materialization
        tags = mat.tags or {}
        out.append({
            "asset": mat.asset_key.to_user_string(), "partition": mat.partition,
            "data_version": tags.get("dagster/data_version"), "code_version": tags.get("dagster/code_version"),
            "timestamp": record.event_log_entry.timestamp,
            "mlflow_run_id": (mat.metadata.get("mlflow_run_id").value if "mlflow_run_id" in mat.metadata else None),
        })
    return out


ARTIFACT_ASSETS = {"sft": "sft_dataset", "lora": "lora_adapter", "distilled": "distilled_model",
                   "benchmark": "benchmark_report"}


def dagster_runs(record: dict) -> dict[str, str]:
    """asset -> the Dagster run that produced what the version used (snapshots, per-run artifact folders)."""
    runs = {asset: s["dagster_run_id"] for asset, s in record["snapshots"].items() if s.get("dagster_run_id")}
    for kind, path in record["artifacts"].items():
        if kind in ARTIFACT_ASSETS and Path(path).name != kind:  # a per-run folder is named by its run id
            runs[ARTIFACT_ASSETS[kind]] = Path(path).name
    runs["gguf_export"] = record["dagster_run_id"]
    return dict(sorted(runs.items()))


def mlflow_runs_of(client, run_ids: list[str]) -> list[dict]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = []
    for run_id in sorted(set(run_ids)):
        for run in client.search_runs(experiment_ids=experiments, filter_string=f"tags.`dagster.run_id` = '{run_id}'"):
            found.append({"run_id": run.info.run_id, "name": run.info.run_name, "status": run.info.status,
                          "dagster_run_id": run_id, "dataset_hash": run.data.params.get("dataset_hash")})
    return sorted(found, key=lambda r: (r["dagster_run_id"], r["name"] or "", r["run_id"]))


def qa_chain(con, snapshots: dict[str, dict]) -> list[dict]:
    """QA pair -> chunk -> document -> source and pages, read from the version's own snapshots."""
    from slm_assets.snapshots import snapshot_table_sql

    rows = con.execute(
        f"""select e.qa_id, e.split, q.chunk_id, q.doc_id, d.source, c.page_start, c.page_end
            from ({snapshot_table_sql('sft_examples')}) e
            left join ({snapshot_table_sql('qa_pairs')}) q on q.qa_id = e.qa_id
            left join ({snapshot_table_sql('clean_chunks')}) c on c.chunk_id = q.chunk_id
            left join ({snapshot_table_sql('raw_documents')}) d on d.doc_id = q.doc_id
            order by e.split, e.qa_id""",
        [snapshots[a]["snapshot_id"] if a in snapshots else None
         for a in ("sft_dataset", "synthetic_qa_5000", "clean_chunks", "raw_docs")],
    ).fetchall()
    return [{"qa_id": qa, "split": split, "chunk_id": chunk, "doc_id": doc, "source": source,
             "pages": list(range(start, (end or start) + 1)) if start is not None else []}
            for qa, split, chunk, doc, source, start, end in rows]


def summarize_sources(chain: list[dict]) -> list[dict]:
    """Per source of the trained (train + val) pairs: pages, chunk count, QA pair count."""
    sources: dict[str, dict] = defaultdict(lambda: {"pages": set(), "chunks": set(), "qa_pairs": 0})
    for link in chain:
        if link["split"] == "test":
            continue
        entry = sources[link["source"] or "(document not in the snapshot)"]
        entry["qa_pairs"] += 1
        entry["chunks"].add(link["chunk_id"])
        entry["pages"].update(link["pages"])
    return [{"source": s, "pages": sorted(v["pages"]), "chunks": len(v["chunks"]), "qa_pairs": v["qa_pairs"]}
            for s, v in sorted(sources.items())]


def trace(domain: str, version: str | None, client, registered: str, con, instance=None) -> dict:
    """The whole chain as a dict (printed as text or JSON by the CLI). Everything in it was fixed when the
    version was registered (bundle manifest, snapshots, finished runs), so it never changes afterwards;
    aliases, which move, are left out."""
    model_version = resolve_version(client, registered, version)
    bundle = Path(dict(model_version.tags).get(BUNDLE_TAG, ""))
    manifest_path = bundle / "manifest.json"
    if not manifest_path.exists():
        raise LineageError(f"version {model_version.version}: bundle manifest {manifest_path} is missing")
    manifest = json.loads(manifest_path.read_text())
    record = manifest.get("lineage")
    if record is None:
        raise LineageError(f"version {model_version.version} was registered before data snapshots existed: "
                           f"its manifest {manifest_path} lists QA ids only")
    runs = dagster_runs(record)
    materializations = []
    if instance is not None:
        for run_id in sorted(set(runs.values())):
            materializations += [m for m in dagster_materializations(instance, run_id) if m["partition"] == domain]
    chain = qa_chain(con, record["snapshots"])
    trained = [link for link in chain if link["split"] != "test"]
    return {
        "registered_model": registered,
        "version": str(model_version.version),
        "dagster_runs": runs,
        "materializations": sorted(materializations, key=lambda m: (m["timestamp"], m["asset"])),
        "mlflow_runs": mlflow_runs_of(client, list(runs.values())),
        "project": record["project"],
        "code_version": manifest["code_version"],
        "base_model": record["base_model"],
        "domain_yaml": record["domain_yaml"],
        "resolved_settings": record["resolved_settings"],
        "snapshots": record["snapshots"],
        "artifacts": record["artifacts"],
        "dataset_hash": manifest["dataset_hash"],
        "qa_pairs_trained_on": len(trained),
        "qa_pairs_found": sum(link["chunk_id"] is not None for link in trained),
        "chunks": len({link["chunk_id"] for link in trained if link["chunk_id"]}),
        "sources": summarize_sources(chain),
        "qa_chain": chain,
    }


def render_text(chain: dict, limit: int = 50) -> str:
    project, base = chain["project"], chain["base_model"]
    lines = [
        f"model      {chain['registered_model']} v{chain['version']}",
        f"  project slm_assets {project['package']} commit {project['git_commit'] or 'none'}"
        + (" (local changes)" if project["dirty"] else ""),
        f"  base model {base['name']} weights sha256 {base['weights_sha256'] or 'unknown'}",
    ]
    for asset, run_id in chain["dagster_runs"].items():
        lines.append(f"  dagster run {run_id} ({asset})")
    for asset, snap in chain["snapshots"].items():
        lines.append(f"  snapshot {snap['snapshot_id']} hash {snap['hash']} ({asset})")
    for mat in chain["materializations"]:
        lines.append(f"    {mat['asset']:<20} partition={mat['partition']} data_version={mat['data_version']}"
                     + (f" mlflow={mat['mlflow_run_id']}" if mat["mlflow_run_id"] else ""))
    for run in chain["mlflow_runs"]:
        lines.append(f"  mlflow run {run['run_id']} {run['name']} {run['status']}")
    lines.append(f"  dataset {chain['dataset_hash']}: {chain['qa_pairs_trained_on']} QA pairs "
                 f"({chain['qa_pairs_found']} found) from {chain['chunks']} chunks")
    for src in chain["sources"][:limit]:
        pages = f" pages {','.join(map(str, src['pages']))}" if src["pages"] else ""
        lines.append(f"    {src['source']}{pages}: {src['chunks']} chunks, {src['qa_pairs']} QA pairs")
    if len(chain["sources"]) > limit:
        lines.append(f"    ... {len(chain['sources']) - limit} more sources (use --json)")
    return "\n".join(lines)
