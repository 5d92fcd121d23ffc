"""benchmark_report: base vs fine-tuned vs distilled on the held-out split, and the promotion gate."""

import json

import dagster as dg

from slm_assets.defs.partitions import domain_partitions
from slm_assets.defs.train import distilled_model, lora_adapter, sft_dataset
from slm_assets.evaluate.benchmark import evaluate_models, markdown_table, promotion_gate, write_report
from slm_assets.models import load_tokenizer, load_tuned_model
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.tracking import TrackingResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.train.plots import png_markdown
from slm_assets.train.sft_data import read_split
from slm_assets.versioning import code_version


@dg.asset(
    partitions_def=domain_partitions,
    deps=[sft_dataset, lora_adapter, distilled_model],
    group_name="evaluate",
    kinds={"pytorch", "mlflow"},
    owners=["team:ml"],
    check_specs=[dg.AssetCheckSpec("tuned_beats_base", asset="benchmark_report", blocking=True,
                                   description="The best tuned model beats base on the primary metric by the "
                                   "configured margin; otherwise export and registration stop.")],
    description="Base vs lora_adapter vs distilled_model on the document-disjoint test split with greedy decoding: "
    "ROUGE-L, BLEU, exact match, token F1, reference perplexity, a reference-based pairwise judge, latency. "
    "report.json, report.md, per_question.csv and a plot; logged to MLflow.",
)
def benchmark_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                     tracking: TrackingResource):
    spec = domains.get(context.partition_key)
    cache = warehouse.models_cache_dir
    test_rows = read_split(warehouse.artifacts(spec.name, "sft"), "test")
    tokenizer = load_tokenizer(spec.base_model, cache)
    models = {
        "base": load_tuned_model(spec.base_model, cache, None),
        "lora_adapter": load_tuned_model(spec.base_model, cache, warehouse.artifacts(spec.name, "lora", "adapter")),
        "distilled_model": load_tuned_model(spec.base_model, cache,
                                            warehouse.artifacts(spec.name, "distilled", "adapter")),
    }
    index = ChunkIndex.load(warehouse.artifacts(spec.name, "index"))
    with warehouse.connect() as con:
        chunk_texts = dict(con.execute("select chunk_id, text from clean_chunks where domain = ?", [spec.name]).fetchall())
    result = evaluate_models(models, tokenizer, test_rows, spec.benchmark, index=index,
                             k=spec.split.context.k_retrieve, chunk_texts=chunk_texts)
    metric = spec.benchmark.primary_metric
    best, gain, passed, verdict = promotion_gate(result, metric, spec.benchmark.min_improvement)
    out_dir = warehouse.artifacts(spec.name, "benchmark")
    files = write_report(result, out_dir, f"{spec.name} ({spec.topic})")
    report = json.loads((out_dir / "report.json").read_text())
    report.update({"primary_metric": metric, "best_model": best, "improvement_over_base": gain})
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))

    client = tracking.client()
    run_id = tracking.start_run(spec.name, f"benchmark_report-{context.run.run_id[:8]}", {
        "dagster.run_id": context.run.run_id, "dagster.partition": spec.name, "code_version": code_version()})
    for name, scores in result.models.items():
        for key, value in vars(scores).items():
            if isinstance(value, float):
                client.log_metric(run_id, f"{name}.{key}", value)
    client.log_artifacts(run_id, str(out_dir), "benchmark")
    tracking.end_run(run_id, True)

    flat = {f"{name}/{key}": round(value, 4) for name, scores in result.models.items()
            for key, value in vars(scores).items() if isinstance(value, float)}
    return dg.MaterializeResult(
        metadata={
            "questions": result.n_questions,
            "scores": dg.MetadataValue.md(markdown_table(result)),
            "best_model": best,
            "retrieval_recall_at_k": result.retrieval_recall_at_k,
            f"improvement_{metric}": round(gain, 4),
            "judge": dg.MetadataValue.json(result.judge),
            "plot": dg.MetadataValue.md(png_markdown(out_dir / "metrics.png", "metrics")),
            "report": dg.MetadataValue.path(files["markdown"]),
            "mlflow_run_id": run_id,
            **flat,
        },
        check_results=[dg.AssetCheckResult(
            check_name="tuned_beats_base", passed=passed, description=verdict,
            metadata={"improvement": gain, "required": spec.benchmark.min_improvement})],
    )
