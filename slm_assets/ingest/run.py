"""One ingest run on the warehouse: the domain's sources collected (URLs revalidated against what is stored),
stored documents kept where a source failed this time, written as a new raw_docs snapshot."""

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from slm_assets.ingest.collect import CollectResult, collect_documents, keep_stored_on_failure
from slm_assets.ingest.config import SourcesConfig
from slm_assets.snapshots import Snapshot, write_snapshot
from slm_assets.warehouse import fetch_dicts

log = logging.getLogger(__name__)


@dataclass
class IngestRun:
    result: CollectResult  # what this run read
    documents: list[dict]  # what the snapshot holds (this run's documents and the stored ones kept)
    snapshot: Snapshot

    @property
    def parsers(self) -> dict[str, int]:
        return dict(Counter(d["parser"] for d in self.documents))

    def failures_markdown(self, limit: int = 50) -> str:
        return "\n".join(f"- `{f['source']}`: {f['reason']}" for f in self.result.failures[:limit]) or "none"


def ingest_domain(connect, domain: str, sources: SourcesConfig, folders: list[Path], inbox: Path | None,
                  run_id: str, warn=log.warning) -> IngestRun:
    """`connect`: a callable giving a warehouse connection as a context manager; `warn` receives each failure."""
    with connect() as con:
        stored = fetch_dicts(con, "select * from current_raw_documents where domain = ?", [domain])
    validators = {r["source"]: {"etag": r["etag"], "last_modified": r["last_modified"]}
                  for r in stored if r["source_type"] == "url"}
    result = collect_documents(domain, sources, folders, inbox, validators)
    documents = keep_stored_on_failure(result, stored)
    for failure in result.failures:
        warn(f"{failure['source']}: {failure['stage']}: {failure['reason']}")
    with connect() as con:
        snapshot = write_snapshot(con, domain, "raw_docs", {"raw_documents": documents,
                                                            "ingest_failures": result.failures},
                                  run_id, parent_ids=[])
    return IngestRun(result, documents, snapshot)
