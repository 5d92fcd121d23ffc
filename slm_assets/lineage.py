"""Trace a registered model version back to the documents it learned from.

registry version -> Dagster run and asset materialisations (data and code versions) -> MLflow runs
-> dataset hash -> QA pair ids -> chunk ids -> source URLs / paths and PDF pages.
"""

import json
from collections import defaultdict
from pathlib import Path


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


def trace(domain: str, version: str | None, client, registered: str, con, instance=None) -> dict:
    """The whole chain as a dict (printed as text or JSON by the CLI)."""
    model_version = resolve_version(client, registered, version)
    tags = dict(model_version.tags)
    bundle = Path(tags.get("bundle", ""))
    manifest_path = bundle / "manifest.json"
    if not manifest_path.exists():
        raise LineageError(f"version {model_version.version}: bundle manifest {manifest_path} is missing")
    manifest = json.loads(manifest_path.read_text())
    run_id = tags.get("dagster.run_id") or manifest.get("dagster_run_id")
    materializations = dagster_materializations(instance, run_id) if instance is not None and run_id else []
    mlflow_runs = []
    for run in client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`dagster.run_id` = '{run_id}'",
    ):
        mlflow_runs.append({"run_id": run.info.run_id, "name": run.info.run_name, "status": run.info.status,
                            "dataset_hash": run.data.params.get("dataset_hash")})

    trained_ids = manifest["qa_ids"]["train"] + manifest["qa_ids"]["val"]
    con.execute("create or replace temp table lineage_ids (qa_id varchar)")
    con.executemany("insert into lineage_ids values (?)", [[q] for q in trained_ids])
    rows = con.execute(
        """select q.qa_id, q.chunk_id, c.doc_id, d.source, c.page_start, c.page_end, c.heading
           from lineage_ids i
           join qa_pairs q on q.domain = ? and q.qa_id = i.qa_id
           left join clean_chunks c on c.domain = q.domain and c.chunk_id = q.chunk_id
           left join raw_documents d on d.domain = q.domain and d.doc_id = q.doc_id
           order by d.source, c.page_start, q.qa_id""",
        [domain],
    ).fetchall()
    sources: dict[str, dict] = defaultdict(lambda: {"pages": set(), "chunks": set(), "qa_pairs": 0})
    qa_to_chunk = {}
    for qa_id, chunk_id, _doc_id, source, page_start, page_end, _heading in rows:
        entry = sources[source or "(document no longer stored)"]
        entry["qa_pairs"] += 1
        entry["chunks"].add(chunk_id)
        if page_start is not None:
            entry["pages"].update(range(page_start, (page_end or page_start) + 1))
        qa_to_chunk[qa_id] = chunk_id
    return {
        "registered_model": registered,
        "version": str(model_version.version),
        "aliases": list(model_version.aliases or []),
        "tags": tags,
        "dagster_run_id": run_id,
        "materializations": materializations,
        "mlflow_runs": mlflow_runs,
        "dataset_hash": manifest["dataset_hash"],
        "code_version": manifest["code_version"],
        "qa_pairs_trained_on": len(trained_ids),
        "qa_pairs_found": len(qa_to_chunk),
        "chunks": len({c for c in qa_to_chunk.values() if c}),
        "sources": [
            {"source": s, "pages": sorted(v["pages"]), "chunks": len(v["chunks"]), "qa_pairs": v["qa_pairs"]}
            for s, v in sorted(sources.items())
        ],
        "qa_to_chunk": qa_to_chunk,
    }


def render_text(chain: dict, limit: int = 50) -> str:
    lines = [
        f"model      {chain['registered_model']} v{chain['version']} (aliases: {', '.join(chain['aliases']) or 'none'})",
        f"  dagster run {chain['dagster_run_id']}  code {chain['code_version']}",
    ]
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
