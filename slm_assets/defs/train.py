"""sft_dataset, lora_adapter and distilled_model."""

import json
from pathlib import Path

import dagster as dg

from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.synth import synthetic_qa_5000
from slm_assets.metadata import png_markdown
from slm_assets.processes import FolderBusy, check_folder_free
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource
from slm_assets.resources.trainer import TrainerResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.storage import write_text_atomically
from slm_assets.train.leakage import check_leakage
from slm_assets.train.sft_data import build_splits, dataset_hash, read_split, write_sft_dataset
from slm_assets.versioning import code_version
from slm_assets.warehouse import fetch_dicts, replace_domain_rows


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[synthetic_qa_5000],
    group_name="train",
    kinds={"huggingface", "duckdb"},
    owners=["team:ml"],
    check_specs=[dg.AssetCheckSpec("no_benchmark_leakage", asset="sft_dataset", blocking=True,
                                   description="No test pair shares a chunk or a 13-gram with a training pair.")],
    description="Chat-formatted prompt/completion data (system prompt from the domain topic) split train/val/test "
    "by source document; the test split is the benchmark. HF dataset on disk, JSONL, alpaca export.",
)
def sft_dataset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource):
    spec = domains.get(context.partition_key)
    with warehouse.connect() as con:
        pairs = fetch_dicts(con, "select * from qa_pairs where domain = ? and status = 'accepted'", [spec.name])
        chunk_texts = dict(con.execute("select chunk_id, text from clean_chunks where domain = ?", [spec.name]).fetchall())
    index = ChunkIndex.load(warehouse.artifacts(spec.name, "index"))
    splits = build_splits(pairs, spec.system_prompt, spec.split, index, chunk_texts)
    # decontaminate: a test pair that overlaps training is dropped from the benchmark, and counted
    before = check_leakage(splits["train"] + splits["val"], splits["test"])
    leaking = set(before.shared_chunks) | {t for t, _ in before.ngram_overlaps}
    splits["test"] = [e for e in splits["test"] if e["qa_id"] not in leaking]
    out_dir = warehouse.artifacts(spec.name, "sft")
    paths = write_sft_dataset(splits, chunk_texts, out_dir)
    digest = dataset_hash(splits)
    write_text_atomically(out_dir / "manifest.json", json.dumps({
        "dataset_hash": digest, "counts": {k: len(v) for k, v in splits.items()},
        "test_docs": sorted({e["doc_id"] for e in splits["test"]}), "dropped_for_leakage": sorted(leaking),
    }, indent=2))
    rows = [{"domain": spec.name, "qa_id": e["qa_id"], "split": split, "doc_id": e["doc_id"]}
            for split, examples in splits.items() for e in examples]
    with warehouse.connect() as con:
        replace_domain_rows(con, "sft_examples", spec.name, rows)
    # the check reads back what was written, so it verifies the files, not the intention
    written = {s: read_split(out_dir, s) for s in ("train", "val", "test")}
    report = check_leakage(written["train"] + written["val"], written["test"])
    docs = {s: len({e["doc_id"] for e in v}) for s, v in written.items()}
    return dg.MaterializeResult(
        metadata={
            "train": len(written["train"]), "val": len(written["val"]), "test": len(written["test"]),
            "documents_per_split": dg.MetadataValue.json(docs),
            "dropped_from_test_for_leakage": len(leaking),
            "dataset_hash": digest,
            "dataset_dir": dg.MetadataValue.path(str(out_dir)),
            "files": dg.MetadataValue.json(paths),
            "open_book_examples": sum(e.get("mode") == "open_book" for s in ("train", "val") for e in written[s]),
            "unanswerable_examples": sum(e.get("mode") == "unanswerable" for s in ("train", "val") for e in written[s]),
            "pairs_dropped_as_echo": len(pairs) - sum(len(v) for v in splits.values()) - len(leaking),
            "example": dg.MetadataValue.json(written["train"][0] if written["train"] else {}),
        },
        check_results=[dg.AssetCheckResult(check_name="no_benchmark_leakage", passed=report.passed,
                                           description=report.describe())],
        data_version=dg.DataVersion(digest),
    )


def _dataset_hash(out_dir: Path) -> str:
    return json.loads((out_dir / "manifest.json").read_text())["dataset_hash"]


def train_out_of_process(context: dg.AssetExecutionContext, tracking: TrackingResource, trainer: TrainerResource,
                         domain: str, asset: str, module: str, extras: dict) -> tuple[dict, str]:
    """One MLflow run per materialisation, ended FINISHED or FAILED; the training runs as a Pipes subprocess.
    Refuses to start while a live process from an earlier run still writes into the output folder."""
    try:
        check_folder_free(Path(extras["out_dir"]))
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
    dataset_dir = warehouse.artifacts(spec.name, "sft")
    out_dir = warehouse.artifacts(spec.name, "lora")
    metadata, run_id = train_out_of_process(context, tracking, trainer, spec.name, "lora_adapter",
                                            "slm_assets.train.lora_job", {
        "base_model": spec.base_model, "cache_dir": str(warehouse.models_cache_dir), "dataset_dir": str(dataset_dir),
        "out_dir": str(out_dir), "train_config": spec.train.model_dump(), "dataset_hash": _dataset_hash(dataset_dir),
    })
    meta = {k: v.value if hasattr(v, "value") else v for k, v in metadata.items()}
    before, best = meta.get("eval_loss_before"), meta.get("eval_loss_best")
    fell = before is not None and best is not None and best < before
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id,
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
    dataset_dir = warehouse.artifacts(spec.name, "sft")
    out_dir = warehouse.artifacts(spec.name, "distilled")
    metadata, run_id = train_out_of_process(context, tracking, trainer, spec.name, "distilled_model",
                                            "slm_assets.train.distill_job", {
        "base_model": spec.base_model, "cache_dir": str(warehouse.models_cache_dir), "dataset_dir": str(dataset_dir),
        "lora_adapter_dir": str(warehouse.artifacts(spec.name, "lora", "adapter")), "out_dir": str(out_dir),
        "distill_config": spec.distill.model_dump(), "dataset_hash": _dataset_hash(dataset_dir),
    })
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id,
                  "loss_curve": dg.MetadataValue.md(png_markdown(out_dir / "loss_curve.png", "loss terms"))},
    )
