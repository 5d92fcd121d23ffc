"""The `slm-assets` command.

  materialize   run a domain's assets in this process, one progress bar per asset
  domains       list the domains defined in domains/
  lineage       trace a model version back to its runs, QA pairs, chunks and source pages
  init-domain   scaffold domains/<name>.yaml with every setting and its description
  ask           answer a question from the domain's latest exported model, with sources
  eval          score base and the latest model on your own questions
  serve         serve a registered model version over an OpenAI/Ollama-compatible API
  gc            delete snapshots and artifact folders no registered version and none of the newest runs need
"""

import logging
import os
import shutil
from pathlib import Path

import typer

from slm_assets.settings import PROJECT_ROOT, get_settings

app = typer.Typer(help="slm_assets: documents in, a specialised small LLM out.", no_args_is_help=True)
log = logging.getLogger("slm_assets")


def _instance():
    """The Dagster instance under DAGSTER_HOME (default warehouse/.dagster), with the repo's dagster.yaml."""
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(get_settings().warehouse_dir / ".dagster")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.get()


@app.command()
def materialize(
    domain: str = typer.Option(..., "--domain", "-d", help="Domain name (a file in domains/)."),
    select: str = typer.Option("*", "--select", help="Asset selection, e.g. 'raw_docs clean_chunks' or '*'."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and only warnings in the log "
                               "(for scripts and CI); the results are still printed."),
) -> None:
    """Materialise a domain's assets in this process (a progress bar per asset) and print where results are."""
    import uuid

    from slm_assets.definitions import defs
    from slm_assets.domains import load_domain, sync_domain_partitions
    from slm_assets.progress import RunProgress

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_domain(domain)
    instance = _instance()
    sync_domain_partitions(instance)
    _recover(instance)
    definitions = defs()
    run_id = str(uuid.uuid4())
    quiet_log = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}} if quiet else None
    if select.strip() == "*":
        job, keys = definitions.get_job_def("build_domain_model"), None
    else:
        import dagster as dg

        job = definitions.get_implicit_global_asset_job_def()
        keys = [dg.AssetKey(name) for name in select.replace(",", " ").split()]
    n_assets = len(keys) if keys else len(job.asset_layer.selected_asset_keys)
    with RunProgress(instance, run_id, n_assets, disable=quiet):
        result, waited_too_long = execute_with_pool_limit(job, instance, domain, keys,
                                                          get_settings().pool_wait_limit_s, run_id, quiet_log)
    if waited_too_long:
        typer.echo(f"run failed: {waited_too_long}", err=True)
        raise typer.Exit(1)
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            typer.echo(f"check {data.asset_key.to_user_string()}.{data.check_name}: "
                       f"{'passed' if data.passed else 'FAILED'} {data.description or ''}")
    settings = get_settings()
    from slm_assets.artifacts import latest_run_dir, newest_export_bundle

    report = latest_run_dir(settings.artifacts_dir / domain / "benchmark") / "report.md"
    if report.exists():
        typer.echo(f"benchmark report: {report}")
    bundle = newest_export_bundle(settings.artifacts_dir / domain)
    for gguf in sorted(bundle.glob("*.gguf")) if bundle else []:
        typer.echo(f"gguf: {gguf}")
    for line in _registry_lines(result):
        typer.echo(line)
    if not result.success:
        typer.echo("run failed: see the log above", err=True)
        raise typer.Exit(1)
    typer.echo(f"run {result.run_id} succeeded for domain {domain}")


def _registry_lines(result) -> list[str]:
    """What this run's gguf_export registered and whether it became champion, with the gate's verdict (the
    interval and the number of questions), from the materialisation's metadata."""
    lines = []
    for event in result.all_events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() != "gguf_export":
            continue
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        if str(meta.get("version")) == "not registered":
            lines.append(f"registry: not registered ({meta.get('promotion', '')})")
        else:
            role = "champion" if meta.get("champion") else "candidate, not champion"
            lines.append(f"registry: {meta.get('registered_model')} v{meta.get('version')} is {role}: "
                         f"{meta.get('promotion', '')}")
    return lines


def _recover(instance) -> None:
    """Runs left in progress by a dead process are marked failed and their pool slots freed; a slot
    held by another run is named, so a wait is never silent."""
    from slm_assets.run_recovery import pool_holders, recover_dead_runs

    for line in recover_dead_runs(instance):
        typer.echo(line)
    for holder in pool_holders(instance, "gpu"):
        typer.echo(f"note: {holder.describe('gpu')}")


def execute_with_pool_limit(job, instance, partition_key: str, asset_selection, limit_s: float,
                            run_id: str | None = None, run_config: dict | None = None):
    """Execute in this process, tagged with this process (so a later run can tell it died); a step
    waiting for a pool longer than `limit_s` ends the run. Returns (result, message when it waited too long)."""
    from dagster._core.utils import make_new_run_id

    from slm_assets.run_recovery import PoolWaitLimit, PoolWaitTooLong, process_tags

    run_id = run_id or make_new_run_id()
    watch = PoolWaitLimit(instance, run_id, limit_s)
    watch.start()
    result = None
    try:
        try:
            result = job.execute_in_process(instance=instance, partition_key=partition_key, run_id=run_id,
                                            asset_selection=asset_selection, tags=process_tags(),
                                            raise_on_error=False, run_config=run_config)
        finally:
            watch.stop()
            watch.join()
            watch.clear_pending()
    except PoolWaitTooLong:
        pass  # the run was ended; watch.message says why
    return result, watch.message


@app.command("domains")
def list_domains() -> None:
    """List the domains (partitions) defined in domains/."""
    from slm_assets.domains import load_domains

    for name, spec in load_domains().items():
        typer.echo(f"{name}: {spec.topic} (base {spec.base_model}, teacher {spec.teacher.provider})")



@app.command()
def lineage(
    domain: str = typer.Argument(..., help="Domain name."),
    version: str | None = typer.Option(None, "--version", help="Model version (default: the newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
) -> None:
    """Trace a model version back to its Dagster run, MLflow runs, QA pairs, chunks and source pages."""
    import json

    from mlflow.tracking import MlflowClient

    from slm_assets.domains import load_domain
    from slm_assets.export.registry import registered_name
    from slm_assets.lineage import LineageError, render_text, trace
    from slm_assets.warehouse import connect

    spec = load_domain(domain)
    settings = get_settings()
    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        with connect(settings.duckdb_path) as con:
            chain = trace(domain, version, client, registered_name(spec.export.registered_model_prefix, domain),
                          con, _instance())
    except LineageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(chain, indent=2, default=str) if as_json else render_text(chain))



@app.command()
def gc(
    domain: str = typer.Option(..., "--domain", "-d", help="Domain name."),
    keep: int = typer.Option(2, "--keep", min=1, help="Newest snapshots per asset and run folders per artifact "
                             "kind kept besides what registered model versions need."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
) -> None:
    """Delete snapshots and artifact folders that no registered model version and none of the newest runs need."""
    from mlflow.tracking import MlflowClient

    from slm_assets.domains import load_domain
    from slm_assets.export.registry import registered_name, version_tags
    from slm_assets.retention import carry_out, plan_retention
    from slm_assets.warehouse import connect

    spec = load_domain(domain)
    settings = get_settings()
    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    tags = version_tags(client, registered_name(spec.export.registered_model_prefix, domain))
    with connect(settings.duckdb_path) as con:
        plan = plan_retention(con, settings.artifacts_dir, domain, keep, tags)
        if not dry_run:
            carry_out(con, plan, domain)
    for snapshot_id in plan.snapshots:
        typer.echo(f"{'would delete' if dry_run else 'deleted'} snapshot {snapshot_id}")
    for folder in plan.folders:
        typer.echo(f"{'would delete' if dry_run else 'deleted'} {folder}")
    typer.echo(plan.describe(dry_run))


@app.command("init-domain")
def init_domain_command(
    topic: str = typer.Argument(..., help='The domain in plain language, e.g. "residential heat pumps".'),
    name: str | None = typer.Option(None, "--name", help="Partition name (default: from the topic)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Scaffold domains/<name>.yaml; the partition appears when the domain sensor next runs."""
    from slm_assets.scaffold import init_domain

    try:
        path = init_domain(topic, name, get_settings().domains_dir, force)
    except (ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {path}: add sources, then `slm-assets materialize --domain {path.stem}`")


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    domain: str = typer.Option(..., "--domain", "-d", help="Domain name."),
    k: int = typer.Option(2, "--k", help="Passages retrieved."),
    no_retrieval: bool = typer.Option(False, "--no-retrieval", help="Answer closed book."),
    max_tokens: int = typer.Option(96, "--max-tokens"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Answer from the domain's latest exported model (GGUF via llama.cpp), with sources."""
    import json

    from slm_assets.artifacts import newest_export_bundle, served_gguf
    from slm_assets.domains import load_domain
    from slm_assets.retrieval.answer import answer_question, chunk_sources
    from slm_assets.retrieval.index import ChunkIndex
    from slm_assets.warehouse import connect

    spec = load_domain(domain)
    settings = get_settings()
    bundle = newest_export_bundle(settings.artifacts_dir / domain)
    if bundle is None:
        typer.echo(f"error: no exported model for {domain}: materialise gguf_export first", err=True)
        raise typer.Exit(2)
    gguf = served_gguf(bundle)
    from slm_assets.llama_models import open_llama

    llm = open_llama(gguf, n_ctx=2048, n_threads=os.cpu_count() or 2)

    def generate(messages: list[dict]) -> str:
        reply = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
        return reply["choices"][0]["message"]["content"] or ""

    index = ChunkIndex.load(settings.artifacts_dir / domain / "index")
    with connect(settings.duckdb_path, read_only=True) as con:
        answer = answer_question(question, generate, spec.system_prompt, index,
                                 lambda ids: chunk_sources(con, domain, ids), k=k, retrieval=not no_retrieval,
                                 grounding=spec.grounding)
    if as_json:
        typer.echo(json.dumps(answer.as_dict(), indent=2))
        return
    typer.echo(answer.text)
    if answer.open_book:
        typer.echo({"generated": "(the model's answer, supported by the passages)",
                    "extractive": "(the model's answer was not supported by the passages: the best passage sentence)",
                    "not_covered": "(the documents do not cover this question)"}[answer.mode])
    for i, src in enumerate(answer.sources, start=1):
        pages = f" p.{src.page_start}" + (f"-{src.page_end}" if src.page_end and src.page_end != src.page_start else "") \
            if src.page_start else ""
        typer.echo(f"  [{i}] {src.source}{pages} (chunk {src.chunk_id})")


@app.command("eval")
def eval_questions(
    domain: str = typer.Option(..., "--domain", "-d", help="Domain name."),
    questions: Path = typer.Option(..., "--questions", "-q", help="JSONL: question, answer, optional context/evidence."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default artifacts/<domain>/user_eval/<stem>)."),
    retrieval: bool = typer.Option(False, "--retrieval", help="Also ask open book through the domain's index, as "
                                   "the server does (with its grounding check), beside the best BM25 sentence."),
) -> None:
    """Score base and the domain's latest model on your own questions; writes the benchmark's report."""
    from slm_assets.domains import DomainError, load_domain
    from slm_assets.evaluate.teacher_answers import teacher_roles
    from slm_assets.evaluate.user_questions import (
        NoTrainedModel,
        QuestionsError,
        evaluate_user_questions,
        read_questions,
    )
    from slm_assets.export.gguf import write_temporary_gguf
    from slm_assets.models import ModelNotAvailable
    from slm_assets.resources.teacher import TeacherResource

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        spec = load_domain(domain)
        read_questions(questions)  # fail on bad input before the judge or any model is set up
        roles = teacher_roles(TeacherResource(groq_api_key=settings.groq_api_key), spec)
        open_book = domain_open_book(domain) if retrieval else None
        evaluation = evaluate_user_questions(spec, questions, settings.artifacts_dir, settings.models_cache_dir, out,
                                             roles=roles, domain_data=open_book, write_gguf=write_temporary_gguf)
    except (DomainError, QuestionsError, NoTrainedModel, ModelNotAvailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for note in evaluation.result.notes:
        typer.echo(note)
    typer.echo(evaluation.gate["verdict"])
    typer.echo(f"report: {evaluation.files['markdown']}")



def domain_open_book(domain: str):
    """The domain's index, chunk texts and document sources, for open-book evaluation (exit 2 without an index)."""
    from slm_assets.evaluate.domain_benchmark import DomainData
    from slm_assets.retrieval.index import ChunkIndex
    from slm_assets.warehouse import connect

    settings = get_settings()
    index = ChunkIndex.load(settings.artifacts_dir / domain / "index")
    if index is None:
        typer.echo(f"error: {domain} has no retrieval index: materialise clean_chunks first", err=True)
        raise typer.Exit(2)
    with connect(settings.duckdb_path, read_only=True) as con:
        return DomainData.read(con, domain, index)


def _register_serve() -> None:
    from slm_assets.serve.command import serve

    app.command("serve", help="Serve a registered model version over an authenticated OpenAI/Ollama-compatible API.")(serve)


_register_serve()


if __name__ == "__main__":
    app()
