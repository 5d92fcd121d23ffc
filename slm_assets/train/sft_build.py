"""One sft_dataset run on the warehouse: accepted pairs to decontaminated splits, written as files and a snapshot
of sft_examples, then read back and checked for leakage (the check verifies the files, not the intention)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slm_assets.artifacts import publish_latest
from slm_assets.snapshots import Snapshot, current_snapshot_ids, write_snapshot
from slm_assets.train.config import SplitConfig
from slm_assets.train.gold_leakage import GoldQuestion
from slm_assets.train.leakage import (
    LeakageReport,
    check_everything_seen,
    check_written_dataset,
    decontaminate,
)
from slm_assets.train.sft_data import (
    build_splits,
    dataset_hash,
    read_split,
    split_documents,
    write_manifest,
    write_sft_dataset,
)
from slm_assets.warehouse import chunk_texts as current_chunk_texts
from slm_assets.warehouse import document_sources, fetch_dicts


@dataclass
class SftBuild:
    written: dict[str, list[dict]]  # split -> examples, read back from the files
    document_splits: dict[str, str]  # doc_id -> split
    dropped: dict  # what decontamination removed: {"test": [...], "train_val": [...]}
    report: LeakageReport  # the leakage check over the written files
    paths: dict  # the files written
    digest: str  # dataset_hash of the splits
    snapshot: Snapshot
    dropped_as_echo: int  # accepted pairs build_splits left out (answers that echo the question)


def build_sft_dataset(connect, domain: str, system_prompt: str, split: SplitConfig, index, run_id: str,
                      out_dir: Path, load_gold: Callable[[dict[str, str]], list[GoldQuestion]],
                      fits: Callable[[dict], bool] | None = None) -> SftBuild:
    """`connect`: a callable giving a warehouse connection as a context manager; `load_gold`: doc_id -> source
    mapping to the domain's gold questions ([] without a gold set); `index`: the domain's retrieval index; `fits`:
    whether an example fits the training length (open-book passage windows are narrowed until it does)."""
    with connect() as con:
        pairs = fetch_dicts(con, "select * from current_qa_pairs where domain = ? and status = 'accepted'", [domain])
        chunk_texts = current_chunk_texts(con, domain)
        chunk_docs = dict(con.execute("select chunk_id, doc_id from current_clean_chunks where domain = ?",
                                      [domain]).fetchall())
        gold = load_gold(document_sources(con, domain))
        parents = current_snapshot_ids(con, domain, ["clean_chunks", "synthetic_qa_5000"])
    built = build_splits(pairs, system_prompt, split, index, chunk_texts, fits)
    document_splits = split_documents([p["doc_id"] for p in pairs], split)
    # decontaminate what duplicated corpus text leaks (counted); structural leaks are left for the check to block
    splits, dropped = decontaminate(built, check_everything_seen(built, chunk_docs, chunk_texts, document_splits, gold))
    paths = write_sft_dataset(splits, chunk_texts, out_dir)
    digest = dataset_hash(splits)
    rows = [{"domain": domain, "qa_id": e["qa_id"], "split": name, "doc_id": e["doc_id"]}
            for name, examples in splits.items() for e in examples]
    with connect() as con:
        snapshot = write_snapshot(con, domain, "sft_dataset", {"sft_examples": rows}, run_id, parents)
    write_manifest(out_dir, digest, splits, document_splits, dropped, snapshot.as_dict())
    publish_latest(out_dir)
    report = check_written_dataset(out_dir, chunk_docs, chunk_texts, gold)
    written = {s: read_split(out_dir, s) for s in ("train", "val", "test")}
    return SftBuild(written, document_splits, dropped, report, paths, digest, snapshot,
                    len(pairs) - sum(len(v) for v in built.values()))
