"""synthetic_qa_5000: grounded QA pairs from the domain's teacher, persisted as they arrive."""

import dagster as dg
from pydantic import Field

from slm_assets.artifacts import publish_latest
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.process import clean_chunks
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.teacher import TeacherResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.synth.run import SynthRun, run_synthesis


class SynthRunConfig(dg.Config):
    """Launchpad overrides for one run."""

    n_pairs: int | None = Field(default=None, description="Override the domain's target count.")
    teacher_provider: str | None = Field(default=None, description="offline | groq | openai for this run.")
    teacher_model: str | None = Field(default=None, description="Model name at the provider for this run.")
    concurrency: int = Field(default=4, ge=1, description="Teacher calls in flight (LLM teachers).")
    fresh: bool = Field(default=False, description="Discard stored pairs and calls and start over.")


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[clean_chunks],
    group_name="synth",
    kinds={"duckdb", "python"},
    owners=["team:ml"],
    check_specs=[
        dg.AssetCheckSpec("target_reached", asset="synthetic_qa_5000",
                          description="The accepted count equals the target (warns when the corpus ran out)."),
        dg.AssetCheckSpec("enough_pairs_to_train", asset="synthetic_qa_5000", blocking=True,
                          description="At least 20 accepted pairs."),
    ],
    description="Question-answer pairs written by the domain's teacher (Groq, an OpenAI-compatible server, or the "
    "offline extractive teacher) from clean_chunks, with quality gates and full provenance. Resumable: stored calls "
    "are never repeated. Pairs go into a draft snapshot of qa_pairs as they arrive, sealed at the end (view "
    "current_qa_pairs; data version = the snapshot's hash); JSON, JSONL, CSV and Parquet exports per run.",
)
def synthetic_qa_5000(
    context: dg.AssetExecutionContext,
    config: SynthRunConfig,
    warehouse: WarehouseResource,
    domains: DomainsResource,
    teacher: TeacherResource,
):
    spec = domains.get(context.partition_key)
    synth_config = spec.synth.model_copy(update={"n_pairs": config.n_pairs} if config.n_pairs else {})
    teacher_config = spec.teacher.model_copy(update={
        k: v for k, v in {"provider": config.teacher_provider, "model": config.teacher_model}.items() if v
    })
    client = teacher.for_domain(teacher_config, spec.topic, synth_config.seed)
    exports_dir = warehouse.run_artifacts(spec.name, "synthetic_qa", context.run.run_id)
    with warehouse.connect() as con:
        run = run_synthesis(con, spec.name, context.run.run_id, client, synth_config, exports_dir,
                            concurrency=config.concurrency, fresh=config.fresh, say=context.log.info)
    publish_latest(exports_dir)
    target = synth_config.n_pairs
    return dg.MaterializeResult(
        metadata=synth_metadata(run, f"{client.provider}:{client.model}", target),
        check_results=[
            dg.AssetCheckResult(
                check_name="target_reached", passed=run.accepted >= target, severity=dg.AssetCheckSeverity.WARN,
                description=f"{run.accepted}/{target}: {run.summary.stopped_because}",
            ),
            dg.AssetCheckResult(check_name="enough_pairs_to_train", passed=run.accepted >= 20,
                                metadata={"accepted": run.accepted}),
        ],
        data_version=dg.DataVersion(run.snapshot.hash),
    )


def synth_metadata(run: SynthRun, teacher: str, target: int) -> dict:
    """Counts, the teacher's usage and cost, why the run stopped, rejections, question types, data quality."""
    summary = run.summary
    tokens = summary.prompt_tokens + summary.completion_tokens
    return {
        "accepted": run.accepted,
        "rejected": run.stats["by_status"].get("rejected", 0),
        "target": target,
        "new_this_run": summary.accepted_new,
        "teacher": teacher,
        "teacher_calls_made": summary.calls_made,
        "teacher_calls_skipped_already_stored": summary.calls_skipped,
        "teacher_call_errors": summary.call_errors,
        "teacher_tokens_this_run": tokens,
        "teacher_requests_this_run": summary.teacher_requests,
        "teacher_prompt_tokens_this_run": summary.prompt_tokens,
        "teacher_completion_tokens_this_run": summary.completion_tokens,
        "estimated_cost_usd_this_run": round(summary.estimated_cost_usd, 4),
        "rate_limit_pauses": summary.rate_limit_pauses,
        "rate_limit_paused_s": round(summary.rate_limit_paused_s, 1),
        "teacher_units_failed_left_for_next_run": summary.units_failed,
        "judge_calls": summary.judge_calls,
        "accepted_per_1k_tokens": round(1000 * summary.accepted_new / tokens, 2) if tokens else None,
        "stopped_because": summary.stopped_because,
        "rejected_by_reason": dg.MetadataValue.json(run.stats["rejected_by_reason"]),
        "question_types": dg.MetadataValue.json(run.stats["question_types"]),
        **{f"data_{k}": v for k, v in run.quality.items()},
        "exports": dg.MetadataValue.json(run.exports),
        "table": "current_qa_pairs",
        "snapshot_id": run.snapshot.snapshot_id,
    }
