"""sft_dataset, lora_adapter and distilled_model."""

import json
from pathlib import Path

import dagster as dg

from slm_assets.artifacts import publish_latest, run_dirs
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.synth import synthetic_qa_5000
from slm_assets.evaluate.domain_benchmark import gold_path
from slm_assets.evaluate.user_questions import read_questions
from slm_assets.metadata import png_markdown
from slm_assets.processes import FolderBusy, check_folder_free
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource
from slm_assets.resources.trainer import TrainerResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.snapshots import current_snapshot_ids, write_snapshot
from slm_assets.train.checkpoints import interrupted_run_dir
from slm_assets.train.gold_leakage import GoldQuestion, gold_questions
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
from slm_assets.versioning import code_version
from slm_assets.warehouse import chunk_texts as current_chunk_texts
from slm_assets.warehouse import document_sources, fetch_dicts


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[synthetic_qa_5000],
    group_name="train",
    kinds={"huggingface", "duckdb"},
    owners=["team:ml"],
    check_specs=[dg.AssetCheckSpec("no_benchmark_leakage", asset="sft_dataset", blocking=True,
                                   description="Read back from the written files: no test pair shares a chunk or a "
                                   "13-gram with a train/val example, no train/val prompt shows a test document's "
                                   "passage or a test question's source text, and no gold question (or evidence "
                                   "of a gold question about a test document) appears in train/val.")],
    description="Chat-formatted prompt/completion data (system prompt from the domain topic) split train/val/test "
    "by source document (a hash of the document id with the domain's seed, so a document's split never changes); "
    "the test split is the benchmark. HF dataset on disk, JSONL, alpaca export under "
    "artifacts/<domain>/sft/<run id>/ (latest.json points at the newest); a snapshot of sft_examples.",
)
def sft_dataset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource):
    spec = domains.get(context.partition_key)
    with warehouse.connect() as con:
        pairs = fetch_dicts(con, "select * from current_qa_pairs where domain = ? and status = 'accepted'", [spec.name])
        chunk_texts = current_chunk_texts(con, spec.name)
        chunk_docs = dict(con.execute("select chunk_id, doc_id from current_clean_chunks where domain = ?",
                                      [spec.name]).fetchall())
        gold = load_gold(spec, document_sources(con, spec.name))
        parents = current_snapshot_ids(con, spec.name, ["clean_chunks", "synthetic_qa_5000"])
    index = ChunkIndex.load(warehouse.artifacts(spec.name, "index"))
    built = build_splits(pairs, spec.system_prompt, spec.split, index, chunk_texts)
    document_splits = split_documents([p["doc_id"] for p in pairs], spec.split)
    # decontaminate what duplicated corpus text leaks (counted); structural leaks are left for the check to block
    splits, dropped = decontaminate(built, check_everything_seen(built, chunk_docs, chunk_texts, document_splits, gold))
    out_dir = warehouse.run_artifacts(spec.name, "sft", context.run.run_id)
    paths = write_sft_dataset(splits, chunk_texts, out_dir)
    digest = dataset_hash(splits)
    rows = [{"domain": spec.name, "qa_id": e["qa_id"], "split": split, "doc_id": e["doc_id"]}
            for split, examples in splits.items() for e in examples]
    with warehouse.connect() as con:
        snapshot = write_snapshot(con, spec.name, "sft_dataset", {"sft_examples": rows}, context.run.run_id, parents)
    write_manifest(out_dir, digest, splits, document_splits, dropped, snapshot.as_dict())
    publish_latest(out_dir)
    # the check reads back what was written, so it verifies the files, not the intention
    report = check_written_dataset(out_dir, chunk_docs, chunk_texts, gold)
    written = {s: read_split(out_dir, s) for s in ("train", "val", "test")}
    metadata = sft_metadata(written, document_splits, dropped, report)
    metadata.update({"dataset_hash": digest, "dataset_dir": dg.MetadataValue.path(str(out_dir)),
                     "files": dg.MetadataValue.json(paths),
                     "pairs_dropped_as_echo": len(pairs) - sum(len(v) for v in built.values())})
    return dg.MaterializeResult(
        metadata={**metadata, "snapshot_id": snapshot.snapshot_id},
        check_results=[dg.AssetCheckResult(check_name="no_benchmark_leakage", passed=report.passed,
                                           description=report.describe(),
                                           metadata={k: v for k, v in report.counts().items()})],
        data_version=dg.DataVersion(snapshot.hash),
    )


def load_gold(spec, doc_sources: dict[str, str]) -> list[GoldQuestion]:
    """The domain's gold questions tied to their corpus documents ([] without a gold set)."""
    path = gold_path(spec)
    return gold_questions(read_questions(path), doc_sources) if path is not None else []


def sft_metadata(written: dict[str, list[dict]], document_splits: dict[str, str], dropped: dict,
                 report: LeakageReport) -> dict:
    """Counts per split, documents per split, what decontamination dropped, and the gold overlap (reported only)."""
    return {
        "train": len(written["train"]), "val": len(written["val"]), "test": len(written["test"]),
        "documents_per_split": dg.MetadataValue.json(
            {s: sum(v == s for v in document_splits.values()) for s in ("train", "val", "test")}),
        "dropped_from_test_for_leakage": len(dropped["test"]),
        "dropped_from_train_val_for_gold_evidence": len(dropped["train_val"]),
        "gold_overlap": dg.MetadataValue.json(report.gold_summary),
        "open_book_examples": sum(e.get("mode") == "open_book" for s in ("train", "val") for e in written[s]),
        "unanswerable_examples": sum(e.get("mode") == "unanswerable" for s in ("train", "val") for e in written[s]),
        "example": dg.MetadataValue.json(written["train"][0] if written["train"] else {}),
    }


def _dataset_hash(out_dir: Path) -> str:
    return json.loads((out_dir / "manifest.json").read_text())["dataset_hash"]


def train_out_of_process(context: dg.AssetExecutionContext, tracking: TrackingResource, trainer: TrainerResource,
                         domain: str, asset: str, module: str, extras: dict) -> tuple[dict, str]:
    """One MLflow run per materialisation, ended FINISHED or FAILED; the training runs as a Pipes subprocess.
    Refuses to start while a live process from an earlier run still writes into a folder of the same kind
    (each run has its own folder, but an orphaned trainer still holds the accelerator)."""
    kind_dir = Path(extras["out_dir"]).parent
    try:
        for folder in (kind_dir, *run_dirs(kind_dir)):
            check_folder_free(folder)
    except FolderBusy as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    tags = {"dagster.run_id": context.run.run_id, "dagster.partition": domain, "dagster.asset": asset,
            "code_version": code_version()}
    run_id = tracking.start_run(domain, f"{asset}-{context.run.run_id[:8]}", tags)
    ok = False
    try:
        result = trainer.run(context, module, {**extras, "tracking_uri": tracking.tracking_uri, "mlflow_run_id": run_id})
        ok = True
    finally:
        tracking.end_run(run_id, ok)
    return dict(result.metadata or {}), run_id


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[sft_dataset],
    group_name="train",
    kinds={"pytorch", "mlflow"},
    owners=["team:ml"],
    pool="gpu",
    check_specs=[dg.AssetCheckSpec("validation_loss_fell", asset="lora_adapter",
                                   description="Best validation loss is below the loss before training.")],
    description="A PEFT LoRA adapter (QLoRA on CUDA when configured) trained with TRL's SFTTrainer on the train "
    "split, in a separate process (Dagster Pipes) in the `gpu` pool; per-step losses in MLflow.",
)
def lora_adapter(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                 tracking: TrackingResource, trainer: TrainerResource):
    spec = domains.get(context.partition_key)
    dataset_dir = warehouse.latest_artifacts(spec.name, "sft")
    out_dir = interrupted_run_dir(warehouse.artifacts(spec.name, "lora"))
    if out_dir is not None:
        context.log.info(f"an interrupted training left checkpoints in {out_dir}: training continues there")
    out_dir = out_dir or warehouse.run_artifacts(spec.name, "lora", context.run.run_id)
    metadata, run_id = train_out_of_process(context, tracking, trainer, spec.name, "lora_adapter",
                                            "slm_assets.train.lora_job", {
        "base_model": spec.base_model, "cache_dir": str(warehouse.models_cache_dir), "dataset_dir": str(dataset_dir),
        "out_dir": str(out_dir), "train_config": spec.train.model_dump(), "dataset_hash": _dataset_hash(dataset_dir),
    })
    meta = {k: v.value if hasattr(v, "value") else v for k, v in metadata.items()}
    before, best = meta.get("eval_loss_before"), meta.get("eval_loss_best")
    fell = before is not None and best is not None and best < before
    publish_latest(out_dir)
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id, "dataset_dir": str(dataset_dir), "out_dir": str(out_dir),
                  "loss_curve": dg.MetadataValue.md(png_markdown(out_dir / "loss_curve.png", "loss curve"))},
        check_results=[dg.AssetCheckResult(
            check_name="validation_loss_fell", passed=bool(fell), severity=dg.AssetCheckSeverity.WARN,
            description=f"validation loss {before} -> {best}")],
    )


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[lora_adapter],
    group_name="train",
    kinds={"pytorch", "mlflow"},
    owners=["team:ml"],
    pool="gpu",
    description="A student (base + LoRA, starting from the lora_adapter weights by default) distilled from a "
    "same-tokenizer teacher (default: the merged lora_adapter model) with a KL term to the frozen base on a general-instruction replay set, to keep general "
    "ability. Runs as a Pipes subprocess in the `gpu` pool.",
)
def distilled_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                    tracking: TrackingResource, trainer: TrainerResource):
    spec = domains.get(context.partition_key)
    dataset_dir = warehouse.latest_artifacts(spec.name, "sft")
    out_dir = warehouse.run_artifacts(spec.name, "distilled", context.run.run_id)
    lora_dir = warehouse.latest_artifacts(spec.name, "lora", "adapter")
    metadata, run_id = train_out_of_process(context, tracking, trainer, spec.name, "distilled_model",
                                            "slm_assets.train.distill_job", {
        "base_model": spec.base_model, "cache_dir": str(warehouse.models_cache_dir), "dataset_dir": str(dataset_dir),
        "lora_adapter_dir": str(lora_dir), "out_dir": str(out_dir),
        "distill_config": spec.distill.model_dump(), "dataset_hash": _dataset_hash(dataset_dir),
    })
    publish_latest(out_dir)
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id, "dataset_dir": str(dataset_dir), "out_dir": str(out_dir),
                  "loss_curve": dg.MetadataValue.md(png_markdown(out_dir / "loss_curve.png", "loss terms"))},
    )
