"""Studies that are not assets: the data-size x training-steps sweep (the seed study)."""

import dagster as dg
from pydantic import Field

from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource, dagster_run_tags
from slm_assets.resources.warehouse import WarehouseResource


class SweepConfig(dg.Config):
    domain: str = Field(description="Domain (partition) to study; its sft_dataset must be materialised.")
    sizes: list[int] = Field(default=[100, 300, 900], description="Training examples per cell.")
    steps: list[int] = Field(default=[10, 30, 90], description="Optimizer steps per cell.")
    questions: int = Field(default=24, description="Benchmark questions scored per cell.")


@dg.op(pool="gpu", description="Trains one LoRA adapter per (data size, steps) cell and scores each on the benchmark.")
def data_size_sweep(context: dg.OpExecutionContext, config: SweepConfig, warehouse: WarehouseResource,
                    domains: DomainsResource, tracking: TrackingResource) -> None:
    from slm_assets.evaluate.benchmark import evaluate_models
    from slm_assets.metadata import png_markdown
    from slm_assets.models import load_tokenizer, load_tuned_model
    from slm_assets.train.sft_data import read_split
    from slm_assets.train.sweep import plot_sweep, run_sweep, sweep_metrics, write_sweep

    spec = domains.get(config.domain)
    cache, dataset_dir = warehouse.models_cache_dir, warehouse.latest_artifacts(spec.name, "sft")
    tokenizer = load_tokenizer(spec.base_model, cache)
    test_rows = read_split(dataset_dir, "test")
    bench = spec.benchmark.model_copy(update={"max_questions": config.questions})
    metric = spec.benchmark.primary_metric

    def score(adapter_dir):
        model = load_tuned_model(spec.base_model, cache, adapter_dir)
        return getattr(evaluate_models({"tuned": model}, tokenizer, test_rows, bench).models["tuned"], metric)

    out_dir = warehouse.artifacts(spec.name, "sweep")
    cells = run_sweep(spec.base_model, cache, dataset_dir, out_dir, spec.train, config.sizes, config.steps, score)
    plot, table = plot_sweep(cells, out_dir / "sweep.png", metric), write_sweep(cells, out_dir / "sweep.json")
    run_id = tracking.log_run(spec.name, f"data_size_sweep-{context.run.run_id[:8]}",
                              dagster_run_tags(context.run.run_id, spec.name), sweep_metrics(cells, metric),
                              [(plot, None), (table, None)])
    # shown on the lora_adapter asset page for this domain
    context.log_event(dg.AssetObservation(
        asset_key="lora_adapter", partition=spec.name,
        metadata={"sweep_plot": dg.MetadataValue.md(png_markdown(plot, "data size x steps")),
                  "sweep": dg.MetadataValue.json([vars(c) for c in cells]), "mlflow_run_id": run_id},
    ))


@dg.job(description="The seed study: benchmark score against training-data size and training steps for one domain.")
def data_size_sweep_job():
    data_size_sweep()
