"""benchmark_report: base vs fine-tuned vs distilled vs the re-scored champion on the same questions, and the
promotion gate."""

from pathlib import Path

import dagster as dg

from slm_assets.artifacts import publish_latest
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.train import distilled_model, lora_adapter, sft_dataset
from slm_assets.evaluate.champion import load_models_to_score
from slm_assets.evaluate.domain_benchmark import DomainData, run_domain_benchmark
from slm_assets.evaluate.report import flat_metrics, latency_summary, markdown_table
from slm_assets.evaluate.run import Evaluation
from slm_assets.evaluate.teacher_answers import teacher_roles
from slm_assets.export.gguf import write_temporary_gguf
from slm_assets.export.registry import champion_version, registered_name
from slm_assets.metadata import png_markdown
from slm_assets.models import load_tokenizer
from slm_assets.progress import progress_line
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource, dagster_run_tags
from slm_assets.resources.teacher import TeacherResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.train.sft_data import read_split


def evaluation_metrics(evaluation: Evaluation) -> list[tuple[str, float, int]]:
    """Every finite score, judge and latency number of an evaluation, as MLflow metrics (step 0)."""
    return [(key, value, 0) for key, value in flat_metrics(evaluation.result).items()]


def evaluation_metadata(evaluation: Evaluation, out_dir: Path, run_id: str) -> dict:
    """Scores, judges, latency and both plots (inlined) for the Dagster UI."""
    result = evaluation.result
    metadata = {
        "questions": result.n_questions,
        "retrieval_recall_at_k": result.retrieval_recall_at_k,
        "gate": evaluation.gate["verdict"],
        **promotion_metadata(evaluation.gate.get("promotion")),
        "scores": dg.MetadataValue.md(markdown_table(result)),
        "best_model": evaluation.best,
        f"improvement_{evaluation.gate['primary_metric']}": round(evaluation.gate["improvement_over_base"], 4),
        "judge": dg.MetadataValue.json(result.judge),
        "llm_judge": dg.MetadataValue.json(result.llm_judge or {"skipped": [n for n in result.notes if "judge" in n]}),
        "latency": dg.MetadataValue.json(latency_summary(result.latency)),
        "plot": dg.MetadataValue.md(png_markdown(out_dir / "metrics.png", "metrics")),
        "report": dg.MetadataValue.path(evaluation.files["markdown"]),
        "mlflow_run_id": run_id,
        **{k: round(v, 4) for k, v in flat_metrics(result, sep="/").items()},
    }
    if "latency_plot" in evaluation.files:
        metadata["latency_plot"] = dg.MetadataValue.md(png_markdown(out_dir / "latency.png", "latency"))
    return metadata


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[sft_dataset, lora_adapter, distilled_model],
    group_name="evaluate",
    kinds={"pytorch", "mlflow"},
    owners=["team:ml"],
    check_specs=[dg.AssetCheckSpec("tuned_does_not_parrot", asset="benchmark_report", blocking=True,
                                   description="The best tuned model restates the question no more often than "
                                   "max_echo_rate or base, in the mode the gate compares; otherwise export and "
                                   "registration stop."),
                 dg.AssetCheckSpec("tuned_beats_base", asset="benchmark_report",
                                   description="The best tuned model beats base on the primary metric beyond noise "
                                   "(paired bootstrap lower bound above min_improvement). Not blocking: a model "
                                   "that does not is still exported and registered as a candidate, never promoted "
                                   "to champion.")],
    description="Base vs lora_adapter vs distilled_model vs the registered champion (re-loaded from its files, "
    "scored in the same run; promotion needs a paired-bootstrap lower bound above min_improvement against it) on "
    "the domain's human-written gold questions (when "
    "`benchmark.gold_questions` is set; the synthetic document-disjoint test split is then a second table) with "
    "greedy decoding, each closed book, open book and as served (grounding check), beside the best BM25 sentence "
    "(no model): ROUGE-L, BLEU, exact match, token F1, semantic similarity, groundedness, echo rate, abstention on "
    "unanswerable questions, retrieval recall@k, reference perplexity, a "
    "reference-based pairwise judge (reference_f1), a position-swapped LLM judge when the teacher is an LLM (which "
    "then also answers the questions, as the `teacher` row), and "
    "latency/throughput (transformers batch 1 and batched, GGUF in llama.cpp). report.json, report.md, "
    "per_question.csv and two plots; logged to MLflow.",
)
def benchmark_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                     tracking: TrackingResource, teacher: TeacherResource):
    spec = domains.get(context.partition_key)
    cache = warehouse.models_cache_dir
    registered = registered_name(spec.export.registered_model_prefix, spec.name)
    adapters = {name: warehouse.latest_artifacts(spec.name, kind, "adapter")
                for name, kind in (("lora_adapter", "lora"), ("distilled_model", "distilled"))}
    scored = load_models_to_score(spec.base_model, cache, adapters, champion_version(tracking.client(), registered),
                                  registered, spec.benchmark.dtype)
    context.log.info(scored.champion.describe())
    with warehouse.connect() as con:
        data = DomainData.read(con, spec.name, ChunkIndex.load(warehouse.artifacts(spec.name, "index")),
                               test_rows=read_split(warehouse.latest_artifacts(spec.name, "sft"), "test"))
    out_dir = warehouse.run_artifacts(spec.name, "benchmark", context.run.run_id)
    evaluation, synthetic = run_domain_benchmark(
        spec, scored, load_tokenizer(spec.base_model, cache), data, out_dir, teacher_roles(teacher, spec),
        write_gguf=write_temporary_gguf,
        progress=lambda fraction, what: context.log.info(progress_line(fraction, what)))
    for note in evaluation.result.notes:
        context.log.info(note)
    run_id = tracking.log_run(spec.name, f"benchmark_report-{context.run.run_id[:8]}",
                              dagster_run_tags(context.run.run_id, spec.name), evaluation_metrics(evaluation),
                              [(out_dir, "benchmark")])
    publish_latest(out_dir)
    return dg.MaterializeResult(
        metadata={**evaluation_metadata(evaluation, out_dir, run_id), **synthetic_metadata(synthetic)},
        check_results=gate_check_results(evaluation.gate, spec.benchmark.min_improvement),
    )


def gate_check_results(gate: dict, min_improvement: float) -> list[dg.AssetCheckResult]:
    """The blocking echo guard (described by its own verdict) and the warning comparison with base (by the gate's
    whole verdict)."""
    return [
        dg.AssetCheckResult(check_name="tuned_does_not_parrot", passed=gate["exportable"],
                            description=gate.get("echo_verdict", gate["verdict"]),
                            metadata={"echo_rate": gate.get("echo_rate", 0.0),
                                      "rows": dg.MetadataValue.json(gate.get("echo_rows") or {})}),
        dg.AssetCheckResult(check_name="tuned_beats_base", passed=gate["passed"],
                            severity=dg.AssetCheckSeverity.WARN, description=gate["verdict"],
                            metadata={"improvement": gate["improvement_over_base"],
                                      "interval": dg.MetadataValue.json(gate.get("interval")),
                                      "required": min_improvement}),
    ]


def promotion_metadata(promotion: dict | None) -> dict:
    """Whether the candidate should become champion, against what, with the interval and question count."""
    if not promotion:
        return {}
    return {"promotion": promotion["verdict"], "promote": promotion["passed"],
            "promotion_against": promotion["against"] or "nothing",
            "promotion_interval": dg.MetadataValue.json(promotion.get("interval")),
            "promotion_questions": promotion.get("n_questions", 0),
            "champion": dg.MetadataValue.json(promotion["champion"])}


def synthetic_metadata(synthetic: Evaluation | None) -> dict:
    """The synthetic test split's table, when the gold questions were the main one."""
    if synthetic is None:
        return {}
    return {"synthetic_questions": synthetic.result.n_questions,
            "synthetic_scores": dg.MetadataValue.md(markdown_table(synthetic.result))}
