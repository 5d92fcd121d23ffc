"""evaluate_questions: an op job that scores base and the domain's latest model on a user's questions file.

Ops, not assets: the report is an ad-hoc answer to a question, not part of the domain's model lineage.
Run config: `ops: {evaluate_questions_op: {config: {domain: ..., questions_path: ..., out_dir: ...}}}`.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from slm_assets.defs.evaluate import evaluation_metadata, evaluation_metrics
from slm_assets.evaluate.teacher_answers import teacher_roles
from slm_assets.evaluate.user_questions import default_out_dir, evaluate_user_questions
from slm_assets.export.gguf import write_temporary_gguf
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource, dagster_run_tags
from slm_assets.resources.teacher import TeacherResource
from slm_assets.resources.warehouse import WarehouseResource


class EvaluateQuestionsConfig(dg.Config):
    domain: str = Field(description="Domain name (a file in domains/).")
    questions_path: str = Field(
        description="JSONL, one object per line: question, answer, optional context (shown to the model) or "
        "evidence (not shown); both are the source text for groundedness.")
    out_dir: str | None = Field(default=None, description="Report folder; default artifacts/<domain>/user_eval/<stem>.")


@dg.op(description="Base vs the latest model (newest export bundle, else the LoRA adapter) on user-supplied "
       "questions: the benchmark's metrics, LLM judge and the teacher's own answers (LLM teacher only), latency; "
       "report files and an MLflow run.")
def evaluate_questions_op(context: dg.OpExecutionContext, config: EvaluateQuestionsConfig,
                          warehouse: WarehouseResource, domains: DomainsResource, teacher: TeacherResource,
                          tracking: TrackingResource) -> dg.Output[str]:
    spec = domains.get(config.domain)
    questions = Path(config.questions_path).expanduser().resolve()
    out_dir = Path(config.out_dir) if config.out_dir else default_out_dir(warehouse.root_path / "artifacts",
                                                                          spec.name, questions)
    evaluation = evaluate_user_questions(spec, questions, warehouse.root_path / "artifacts", warehouse.models_cache_dir,
                                         out_dir, roles=teacher_roles(teacher, spec), write_gguf=write_temporary_gguf)
    run_id = tracking.log_run(spec.name, f"evaluate_questions-{context.run.run_id[:8]}",
                              dagster_run_tags(context.run.run_id, spec.name, questions_path=str(questions)),
                              evaluation_metrics(evaluation), [(out_dir, "user_eval")])
    context.log.info(f"{evaluation.gate['verdict']}; report {evaluation.files['markdown']}")
    # output metadata, not an asset observation: the project keeps exactly its eight assets
    return dg.Output(evaluation.files["json"], metadata=evaluation_metadata(evaluation, out_dir, run_id))


@dg.job(description="Score base and the domain's latest model on a user's questions file (run config: domain, "
        "questions_path, optional out_dir).")
def evaluate_questions():
    evaluate_questions_op()
