"""clean_chunks: cleaned, quality-filtered, deduplicated, token-aware chunks."""

import dagster as dg

from slm_assets.defs.ingest import raw_docs
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.models import load_tokenizer
from slm_assets.process.run import ProcessRun, curate_domain, token_histogram
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.warehouse import WarehouseResource


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[raw_docs],
    group_name="process",
    kinds={"duckdb", "python"},
    owners=["team:data"],
    check_specs=[dg.AssetCheckSpec("has_chunks", asset="clean_chunks", blocking=True,
                                   description="Curation kept at least one chunk.")],
    description="Cleaned (Unicode, whitespace, boilerplate), quality-filtered (Gopher/C4 rules), exact- and "
    "near-deduplicated (MinHash LSH) documents cut into token-aware chunks with doc id, heading, pages and "
    "character offsets: a new immutable snapshot of clean_documents, clean_chunks, curation_rejections (views "
    "current_*); the data version is the snapshot's hash.",
)
def clean_chunks(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource):
    spec = domains.get(context.partition_key)
    tokenizer = load_tokenizer(spec.base_model, warehouse.models_cache_dir)
    index_dir = warehouse.artifacts(spec.name, "index")
    run = curate_domain(warehouse.connect, spec.name, spec.process, spec.base_model, tokenizer, context.run.run_id,
                        index_dir)
    context.log.info(f"retrieval index: {run.index_stats}")
    for key, value in run.rejected_by_rule.items():
        context.log.info(f"rejected {value} ({key})")
    chunks = len(run.result.chunks)
    return dg.MaterializeResult(
        metadata=curation_metadata(run, spec.base_model, index_dir),
        check_results=[dg.AssetCheckResult(check_name="has_chunks", passed=bool(chunks), metadata={"chunks": chunks})],
        data_version=dg.DataVersion(run.snapshot.hash),
    )


def curation_metadata(run: ProcessRun, tokenizer: str, index_dir) -> dict:
    """Documents in and kept, chunks, rejections per rule, token figures and the index build."""
    result, lengths = run.result, run.lengths
    return {
        "documents_in": result.counts["documents_in"],
        "documents_kept": result.counts["documents_kept"],
        "chunks": len(result.chunks),
        "chunks_before_dedup": result.counts["chunks_in"],
        "documents_chunked": result.counts["documents_chunked"],
        "documents_reused_unchanged": result.counts["documents_chunks_reused"],
        "rejected_by_rule": dg.MetadataValue.json(run.rejected_by_rule),
        "tokens_total": sum(lengths),
        "tokens_mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
        "token_histogram": dg.MetadataValue.md(token_histogram(lengths)),
        "tokenizer": tokenizer,
        "index_dir": dg.MetadataValue.path(str(index_dir)),
        "index_chunks_tokenized": run.index_stats.tokenized,
        "index_chunks_reused": run.index_stats.reused,
        "index_build_s": round(run.index_stats.seconds, 3),
        "table": "current_clean_chunks",
        "snapshot_id": run.snapshot.snapshot_id,
    }
