"""sft_dataset, lora_adapter and distilled_model."""

from pathlib import Path

import dagster as dg

from slm_assets.artifacts import publish_latest, run_dirs
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.synth import synthetic_qa_5000
from slm_assets.evaluate.domain_benchmark import gold_path
from slm_assets.evaluate.user_questions import read_questions
from slm_assets.generation import example_token_count
from slm_assets.metadata import png_markdown
from slm_assets.models import load_tokenizer
from slm_assets.processes import FolderBusy, check_folders_free
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource, dagster_run_tags
from slm_assets.resources.trainer import TrainerResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.train.checkpoints import interrupted_run_dir
from slm_assets.train.gold_leakage import GoldQuestion, gold_questions
from slm_assets.train.leakage import LeakageReport
from slm_assets.train.lora_job import validation_loss_fell
from slm_assets.train.sft_build import build_sft_dataset
from slm_assets.train.sft_data import manifest_dataset_hash


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
    out_dir = warehouse.run_artifacts(spec.name, "sft", context.run.run_id)
    tokenizer = load_tokenizer(spec.base_model, warehouse.models_cache_dir)
    build = build_sft_dataset(warehouse.connect, spec.name, spec.system_prompt, spec.split,
                              ChunkIndex.load(warehouse.artifacts(spec.name, "index")), context.run.run_id, out_dir,
                              lambda doc_sources: load_gold(spec, doc_sources),
                              lambda example: example_token_count(tokenizer, example) <= spec.train.max_length)
    metadata = sft_metadata(build.written, build.document_splits, build.dropped, build.report)
    metadata.update({"dataset_hash": build.digest, "dataset_dir": dg.MetadataValue.path(str(out_dir)),
                     "files": dg.MetadataValue.json(build.paths), "pairs_dropped_as_echo": build.dropped_as_echo})
    report = build.report
    return dg.MaterializeResult(
        metadata={**metadata, "snapshot_id": build.snapshot.snapshot_id},
        check_results=[dg.AssetCheckResult(check_name="no_benchmark_leakage", passed=report.passed,
                                           description=report.describe(),
                                           metadata={k: v for k, v in report.counts().items()})],
        data_version=dg.DataVersion(build.snapshot.hash),
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
        "passage_words": dg.MetadataValue.json(passage_word_counts(written)),
        "example": dg.MetadataValue.json(written["train"][0] if written["train"] else {}),
    }


def passage_word_counts(written: dict[str, list[dict]]) -> dict[str, int]:
    """Open-book train/val examples by the passage window they were fitted to (words per passage, widest first)."""
    counts: dict[int, int] = {}
    for example in (e for s in ("train", "val") for e in written[s] if e.get("passage_words")):
        counts[example["passage_words"]] = counts.get(example["passage_words"], 0) + 1
    return {str(words): counts[words] for words in sorted(counts, reverse=True)}


def train_out_of_process(context: dg.AssetExecutionContext, tracking: TrackingResource, trainer: TrainerResource,
                         domain: str, asset: str, module: str, extras: dict) -> tuple[dict, str]:
    """One MLflow run per materialisation, ended FINISHED or FAILED; the training runs as a Pipes subprocess.
    Refuses to start while a live process from an earlier run still writes into a folder of the same kind
    (each run has its own folder, but an orphaned trainer still holds the accelerator)."""
    kind_dir = Path(extras["out_dir"]).parent
    try:
        check_folders_free([kind_dir, *run_dirs(kind_dir)])
    except FolderBusy as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    tags = dagster_run_tags(context.run.run_id, domain, **{"dagster.asset": asset})
    with tracking.mlflow_run(domain, f"{asset}-{context.run.run_id[:8]}", tags) as run_id:
        result = trainer.run(context, module, {**extras, "tracking_uri": tracking.tracking_uri, "mlflow_run_id": run_id})
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
        "out_dir": str(out_dir), "train_config": spec.train.model_dump(), "dataset_hash": manifest_dataset_hash(dataset_dir),
    })
    fell, losses = validation_loss_fell(metadata)
    publish_latest(out_dir)
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id, "dataset_dir": str(dataset_dir), "out_dir": str(out_dir),
                  "loss_curve": dg.MetadataValue.md(png_markdown(out_dir / "loss_curve.png", "loss curve"))},
        check_results=[dg.AssetCheckResult(
            check_name="validation_loss_fell", passed=fell, severity=dg.AssetCheckSeverity.WARN,
            description=losses)],
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
        "distill_config": spec.distill.model_dump(), "dataset_hash": manifest_dataset_hash(dataset_dir),
    })
    publish_latest(out_dir)
    return dg.MaterializeResult(
        metadata={**metadata, "mlflow_run_id": run_id, "dataset_dir": str(dataset_dir), "out_dir": str(out_dir),
                  "loss_curve": dg.MetadataValue.md(png_markdown(out_dir / "loss_curve.png", "loss terms"))},
    )
