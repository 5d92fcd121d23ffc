"""synthetic_qa_5000: grounded QA pairs from the domain's teacher, persisted as they arrive."""

import dagster as dg
from pydantic import Field

from slm_assets.artifacts import publish_latest
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.defs.process import clean_chunks
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.teacher import TeacherResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.snapshots import current_snapshot_ids
from slm_assets.synth.diversity import data_quality
from slm_assets.synth.generate import GenerationSummary, generate_qa
from slm_assets.synth.records import ChunkForSynth
from slm_assets.synth.store import WarehouseQAStore, export_accepted
from slm_assets.warehouse import fetch_dicts


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
    with warehouse.connect() as con:
        chunk_rows = fetch_dicts(
            con,
            """select c.chunk_id, c.doc_id, c.text, c.heading, c.source, c.page_start, d.title
               from current_clean_chunks c join current_raw_documents d on d.domain = c.domain and d.doc_id = c.doc_id
               where c.domain = ? order by c.chunk_id""",
            [spec.name],
        )
        chunks = [ChunkForSynth(r["chunk_id"], r["doc_id"], r["text"], r["heading"], r["title"], r["source"],
                                r["page_start"]) for r in chunk_rows]
        store = WarehouseQAStore(con, spec.name, context.run.run_id)  # resumes an interrupted run's draft
        if config.fresh:
            store.reset()
        pruned = store.prune_stale()
        if pruned:
            context.log.info(f"dropped {pruned} stored pairs whose chunks changed or left the corpus")

        def progress(summary: GenerationSummary) -> None:
            if summary.calls_made % 50 == 0:
                context.log.info(
                    f"{summary.accepted_total}/{synth_config.n_pairs} accepted, {summary.rejected_new} rejected, "
                    f"{summary.calls_made} calls, {summary.prompt_tokens + summary.completion_tokens} tokens"
                )

        summary = generate_qa(spec.name, chunks, client, synth_config, store,
                              concurrency=config.concurrency if client.provider != "offline" else 1,
                              progress=progress)
        context.log.info(summary.stopped_because)
        snapshot = store.seal(current_snapshot_ids(con, spec.name, ["clean_chunks"]))
        exports_dir = warehouse.run_artifacts(spec.name, "synthetic_qa", context.run.run_id)
        exports = export_accepted(con, spec.name, exports_dir)
        publish_latest(exports_dir)
        totals = con.execute(
            "select status, count(*) from current_qa_pairs where domain = ? group by status", [spec.name]
        ).fetchall()
        reasons = con.execute(
            """select split_part(reject_reason, ' ', 1) as reason, count(*) from current_qa_pairs
               where domain = ? and status = 'rejected' group by reason order by 2 desc""", [spec.name]
        ).fetchall()
        types = con.execute(
            """select question_type, count(*) from current_qa_pairs where domain = ? and status = 'accepted'
               group by 1 order by 2 desc""", [spec.name]
        ).fetchall()
        quality = data_quality(con.execute(
            "select question, answer from current_qa_pairs where domain = ? and status = 'accepted'", [spec.name]).fetchall())
    counts = dict(totals)
    accepted = counts.get("accepted", 0)
    tokens = summary.prompt_tokens + summary.completion_tokens
    return dg.MaterializeResult(
        metadata={
            "accepted": accepted,
            "rejected": counts.get("rejected", 0),
            "target": synth_config.n_pairs,
            "new_this_run": summary.accepted_new,
            "teacher": f"{client.provider}:{client.model}",
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
            "rejected_by_reason": dg.MetadataValue.json(dict(reasons)),
            "question_types": dg.MetadataValue.json(dict(types)),
            **{f"data_{k}": v for k, v in quality.items()},
            "exports": dg.MetadataValue.json(exports),
            "table": "current_qa_pairs",
            "snapshot_id": snapshot.snapshot_id,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="target_reached", passed=accepted >= synth_config.n_pairs,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{accepted}/{synth_config.n_pairs}: {summary.stopped_because}",
            ),
            dg.AssetCheckResult(check_name="enough_pairs_to_train", passed=accepted >= 20,
                                metadata={"accepted": accepted}),
        ],
        data_version=dg.DataVersion(snapshot.hash),
    )
