"""One curation run on the warehouse: the domain's current raw documents curated (documents whose chunking
settings did not change reuse their chunks), written as a new snapshot, and the retrieval index rebuilt."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slm_assets.process.config import ProcessConfig
from slm_assets.process.curate import CurationResult, curate, settings_fingerprint
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.snapshots import Snapshot, current_snapshot_ids, write_snapshot
from slm_assets.warehouse import fetch_dicts, reusable_chunks


@dataclass
class ProcessRun:
    result: CurationResult
    snapshot: Snapshot
    index_stats: object  # retrieval.index's build statistics: tokenized, reused, seconds

    @property
    def lengths(self) -> list[int]:
        return [c["n_tokens"] for c in self.result.chunks]

    @property
    def rejected_by_rule(self) -> dict[str, int]:
        return {k.removeprefix("rejected_"): v for k, v in self.result.counts.items() if k.startswith("rejected_")}


def token_counter(tokenizer) -> Callable[[list[str]], list[int]]:
    """texts -> token counts under `tokenizer`, without special tokens."""
    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return count_tokens


def curate_domain(connect, domain: str, config: ProcessConfig, base_model: str, tokenizer, run_id: str,
                  index_dir: Path) -> ProcessRun:
    """`connect`: a callable giving a warehouse connection as a context manager (opened twice: reading, then
    writing, with no connection held while curating)."""
    fingerprint = settings_fingerprint(config, base_model)
    with connect() as con:
        documents = fetch_dicts(con, "select * from current_raw_documents where domain = ?", [domain])
        parents = current_snapshot_ids(con, domain, ["raw_docs"])
        previous = reusable_chunks(con, domain, fingerprint)
    result = curate(domain, documents, config, token_counter(tokenizer), fingerprint, previous)
    with connect() as con:
        snapshot = write_snapshot(con, domain, "clean_chunks", {
            "clean_documents": result.documents, "clean_chunks": result.chunks,
            "curation_rejections": result.rejections,
        }, run_id, parents)
    index, index_stats = ChunkIndex.build(
        sorted(result.chunks, key=lambda c: c["chunk_id"]), previous=ChunkIndex.load(index_dir)
    )
    index.save(index_dir)
    return ProcessRun(result, snapshot, index_stats)


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
