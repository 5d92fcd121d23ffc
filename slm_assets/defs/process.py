"""clean_chunks: cleaned, quality-filtered, deduplicated, token-aware chunks."""

import dagster as dg

from slm_assets.defs.ingest import raw_docs
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.models import load_tokenizer
from slm_assets.process.curate import curate, settings_fingerprint
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.snapshots import current_snapshot_ids, write_snapshot
from slm_assets.warehouse import fetch_dicts


def token_histogram(lengths: list[int], bins: int = 8) -> str:
    """A small Markdown histogram of chunk lengths in tokens."""
    if not lengths:
        return "no chunks"
    low, high = min(lengths), max(lengths)
    width = max(1, (high - low + bins) // bins)
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, (n - low) // width)] += 1
    peak = max(counts)
    rows = ["| tokens | chunks | |", "|---|---|---|"]
    for i, count in enumerate(counts):
        bar = "█" * max(0, round(20 * count / peak))
        rows.append(f"| {low + i * width}–{low + (i + 1) * width - 1} | {count} | {bar} |")
    return "\n".join(rows)


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

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    fingerprint = settings_fingerprint(spec.process, spec.base_model)
    with warehouse.connect() as con:
        documents = fetch_dicts(con, "select * from current_raw_documents where domain = ?", [spec.name])
        parents = current_snapshot_ids(con, spec.name, ["raw_docs"])
        previous: dict[str, list[dict]] = {}
        for row in fetch_dicts(
            con,
            """select c.* from current_clean_chunks c
               join current_clean_documents d on d.domain = c.domain and d.doc_id = c.doc_id
               where c.domain = ? and d.config_hash = ? and d.chunks_rejected = 0""",
            [spec.name, fingerprint],
        ):
            previous.setdefault(row["doc_id"], []).append(row)
    result = curate(spec.name, documents, spec.process, count_tokens, fingerprint, previous)
    with warehouse.connect() as con:
        snapshot = write_snapshot(con, spec.name, "clean_chunks", {
            "clean_documents": result.documents, "clean_chunks": result.chunks,
            "curation_rejections": result.rejections,
        }, context.run.run_id, parents)
    index_dir = warehouse.artifacts(spec.name, "index")
    index, index_stats = ChunkIndex.build(
        sorted(result.chunks, key=lambda c: c["chunk_id"]), previous=ChunkIndex.load(index_dir)
    )
    index.save(index_dir)
    context.log.info(f"retrieval index: {index_stats}")
    lengths = [c["n_tokens"] for c in result.chunks]
    by_rule = {k.removeprefix("rejected_"): v for k, v in result.counts.items() if k.startswith("rejected_")}
    for key, value in by_rule.items():
        context.log.info(f"rejected {value} ({key})")
    return dg.MaterializeResult(
        metadata={
            "documents_in": result.counts["documents_in"],
            "documents_kept": result.counts["documents_kept"],
            "chunks": len(result.chunks),
            "chunks_before_dedup": result.counts["chunks_in"],
            "documents_chunked": result.counts["documents_chunked"],
            "documents_reused_unchanged": result.counts["documents_chunks_reused"],
            "rejected_by_rule": dg.MetadataValue.json(by_rule),
            "tokens_total": sum(lengths),
            "tokens_mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
            "token_histogram": dg.MetadataValue.md(token_histogram(lengths)),
            "tokenizer": spec.base_model,
            "index_dir": dg.MetadataValue.path(str(index_dir)),
            "index_chunks_tokenized": index_stats.tokenized,
            "index_chunks_reused": index_stats.reused,
            "index_build_s": round(index_stats.seconds, 3),
            "table": "current_clean_chunks",
            "snapshot_id": snapshot.snapshot_id,
        },
        check_results=[dg.AssetCheckResult(check_name="has_chunks", passed=bool(result.chunks),
                                           metadata={"chunks": len(result.chunks)})],
        data_version=dg.DataVersion(snapshot.hash),
    )
