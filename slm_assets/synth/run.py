"""One synthesis run on the warehouse: the domain's chunks to the teacher, pairs stored in a draft snapshot of
qa_pairs, sealed at the end, and the accepted pairs exported."""

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from slm_assets.snapshots import Snapshot, current_snapshot_ids
from slm_assets.synth.config import SynthConfig
from slm_assets.synth.diversity import data_quality
from slm_assets.synth.generate import GenerationSummary, generate_qa, teacher_templates
from slm_assets.synth.records import ChunkForSynth
from slm_assets.synth.store import WarehouseQAStore, export_accepted
from slm_assets.warehouse import chunks_with_titles, qa_pair_stats

log = logging.getLogger(__name__)


@dataclass
class SynthRun:
    summary: GenerationSummary
    snapshot: Snapshot
    exports: dict[str, str]  # format -> file
    stats: dict  # warehouse.qa_pair_stats of the sealed snapshot
    quality: dict  # diversity.data_quality of the accepted pairs

    @property
    def accepted(self) -> int:
        return self.stats["by_status"].get("accepted", 0)


def synth_chunks(con: duckdb.DuckDBPyConnection, domain: str) -> list[ChunkForSynth]:
    return [ChunkForSynth(r["chunk_id"], r["doc_id"], r["text"], r["heading"], r["title"], r["source"],
                          r["page_start"]) for r in chunks_with_titles(con, domain)]


def log_progress(target: int, say=log.info):
    """A progress callback that reports every 50 calls through `say`."""
    def progress(summary: GenerationSummary) -> None:
        if summary.calls_made % 50 == 0:
            say(f"{summary.accepted_total}/{target} accepted, {summary.rejected_new} rejected, "
                f"{summary.calls_made} calls, {summary.prompt_tokens + summary.completion_tokens} tokens")
    return progress


def run_synthesis(con: duckdb.DuckDBPyConnection, domain: str, run_id: str, teacher, config: SynthConfig,
                  exports_dir: Path, *, concurrency: int, fresh: bool = False, say=log.info) -> SynthRun:
    """Generate into the run's draft (an interrupted run's draft is resumed; `fresh` starts over), seal it on
    the current clean_chunks snapshot and export the accepted pairs. `say` receives the progress lines."""
    chunks = synth_chunks(con, domain)
    store = WarehouseQAStore(con, domain, run_id)  # resumes an interrupted run's draft
    if fresh:
        store.reset()
    pruned = store.prune_stale()
    if pruned:
        say(f"dropped {pruned} stored pairs whose chunks changed or left the corpus")
    superseded = store.prune_superseded(teacher_templates(teacher), teacher.provider)
    if superseded:
        say(f"dropped {superseded} stored pairs that an older version of the teacher's templates made")
    summary = generate_qa(domain, chunks, teacher, config, store,
                          concurrency=concurrency if teacher.provider != "offline" else 1,
                          progress=log_progress(config.n_pairs, say))
    say(summary.stopped_because)
    snapshot = store.seal(current_snapshot_ids(con, domain, ["clean_chunks"]))
    exports = export_accepted(con, domain, exports_dir)
    stats = qa_pair_stats(con, domain)
    return SynthRun(summary, snapshot, exports, stats, data_quality(stats["accepted_pairs"]))
