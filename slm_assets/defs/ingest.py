"""raw_docs: a domain's documents from folders, its inbox and URLs."""

from collections import Counter

import dagster as dg

from slm_assets.defs.partitions import domain_partitions
from slm_assets.ingest.collect import collect_documents, keep_stored_on_failure
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.snapshots import write_snapshot
from slm_assets.warehouse import fetch_dicts


@dg.asset(
    partitions_def=domain_partitions,
    group_name="ingest",
    kinds={"duckdb", "python"},
    owners=["team:data"],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
    check_specs=[dg.AssetCheckSpec("has_documents", asset="raw_docs", blocking=True,
                                   description="At least one document was read.")],
    description="Documents of the domain (HTML via BeautifulSoup, PDF via pdfplumber, Markdown, reST, text) "
    "with content-hash ids and source attribution: a new immutable snapshot of raw_documents and ingest_failures (view current_raw_documents); the data version is the snapshot's hash.",
)
def raw_docs(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource):
    spec = domains.get(context.partition_key)
    with warehouse.connect() as con:
        stored = fetch_dicts(con, "select * from current_raw_documents where domain = ?", [spec.name])
    validators = {r["source"]: {"etag": r["etag"], "last_modified": r["last_modified"]}
                  for r in stored if r["source_type"] == "url"}
    inbox = warehouse.inbox(spec.name) if spec.sources.use_inbox else None
    result = collect_documents(spec.name, spec.sources, spec.folder_paths(), inbox, validators)
    documents = keep_stored_on_failure(result, stored)
    for failure in result.failures:
        context.log.warning(f"{failure['source']}: {failure['stage']}: {failure['reason']}")
    with warehouse.connect() as con:
        snapshot = write_snapshot(con, spec.name, "raw_docs", {"raw_documents": documents,
                                                               "ingest_failures": result.failures},
                                  context.run.run_id, parent_ids=[])
    parsers = Counter(d["parser"] for d in documents)
    return dg.MaterializeResult(
        metadata={
            "documents": len(documents),
            "failures": len(result.failures),
            "unchanged_urls": len(result.unchanged_urls),
            "duplicate_sources": result.duplicates,
            "kept_from_earlier_runs": len(documents) - len(result.documents),
            "by_parser": dg.MetadataValue.json(dict(parsers)),
            "total_chars": sum(len(d["text"]) for d in documents),
            "table": "current_raw_documents",
            "snapshot_id": snapshot.snapshot_id,
            "failed_inputs": dg.MetadataValue.md(
                "\n".join(f"- `{f['source']}`: {f['reason']}" for f in result.failures[:50]) or "none"
            ),
        },
        check_results=[dg.AssetCheckResult(
            check_name="has_documents", passed=bool(documents),
            metadata={"documents": len(documents)},
            description=None if documents else f"no readable documents for {spec.name}: check its sources",
        )],
        data_version=dg.DataVersion(snapshot.hash),
    )
