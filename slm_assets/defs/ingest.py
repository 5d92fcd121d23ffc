"""raw_docs: a domain's documents from folders, its inbox and URLs."""

import dagster as dg

from slm_assets.defs.partitions import domain_partitions
from slm_assets.ingest.run import ingest_domain
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.warehouse import WarehouseResource


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
    inbox = warehouse.inbox(spec.name) if spec.sources.use_inbox else None
    run = ingest_domain(warehouse.connect, spec.name, spec.sources, spec.folder_paths(), inbox, context.run.run_id,
                        warn=context.log.warning)
    documents, result = run.documents, run.result
    return dg.MaterializeResult(
        metadata={
            "documents": len(documents),
            "failures": len(result.failures),
            "unchanged_urls": len(result.unchanged_urls),
            "duplicate_sources": result.duplicates,
            "kept_from_earlier_runs": len(documents) - len(result.documents),
            "by_parser": dg.MetadataValue.json(run.parsers),
            "total_chars": sum(len(d["text"]) for d in documents),
            "table": "current_raw_documents",
            "snapshot_id": run.snapshot.snapshot_id,
            "failed_inputs": dg.MetadataValue.md(run.failures_markdown()),
        },
        check_results=[dg.AssetCheckResult(
            check_name="has_documents", passed=bool(documents),
            metadata={"documents": len(documents)},
            description=None if documents else f"no readable documents for {spec.name}: check its sources",
        )],
        data_version=dg.DataVersion(run.snapshot.hash),
    )
