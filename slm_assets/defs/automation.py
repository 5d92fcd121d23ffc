"""Jobs, sensors and the weekly schedule; all of them run by default once the daemon runs (`make dev`).

Pause one in the UI (Automation tab) or with `dagster sensor stop NAME` / `dagster schedule stop weekly_refresh`.
"""

import dagster as dg

from slm_assets.defs.partitions import domain_partitions
from slm_assets.domains import load_domains
from slm_assets.settings import DEFAULT_REFRESH_CRON, get_settings

ALL_ASSETS = dg.AssetSelection.groups("ingest", "process", "synth", "train", "evaluate", "export")

build_domain_model = dg.define_asset_job(
    "build_domain_model",
    selection=ALL_ASSETS,
    partitions_def=domain_partitions,
    description="Every asset of one domain, documents to registered model version.",
    tags={"dagster/max_retries": "1"},
)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps the `domain` partitions equal to the YAML files in domains/.")
def domain_partitions_sensor(context: dg.SensorEvaluationContext):
    wanted = sorted(load_domains(get_settings().domains_dir))
    current = set(context.instance.get_dynamic_partitions(domain_partitions.name))
    added = [d for d in wanted if d not in current]
    removed = sorted(current - set(wanted))
    if not added and not removed:
        return dg.SkipReason("partitions match domains/")
    return dg.SensorResult(dynamic_partitions_requests=[
        *([domain_partitions.build_add_request(added)] if added else []),
        *([domain_partitions.build_delete_request(removed)] if removed else []),
    ])


_REFRESH_CRON = get_settings().refresh_cron.strip()


@dg.schedule(cron_schedule=_REFRESH_CRON or DEFAULT_REFRESH_CRON, job=build_domain_model,
             execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING if _REFRESH_CRON else dg.DefaultScheduleStatus.STOPPED,
             description="Rebuilds every domain on SLM_REFRESH_CRON (UTC; default Mondays 03:00); an empty "
             "SLM_REFRESH_CRON leaves it stopped until switched on.")
def weekly_refresh(context: dg.ScheduleEvaluationContext):
    for domain in context.instance.get_dynamic_partitions(domain_partitions.name):
        yield dg.RunRequest(run_key=f"weekly-{domain}-{context.scheduled_execution_time:%Y%m%d}", partition_key=domain)


# Replaces Dagster's default_automation_condition_sensor (made only for assets no other such sensor targets),
# which ships switched off: here the chain after raw_docs follows without anyone toggling it in the UI.
automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition: after raw_docs of a domain changes, each "
    "downstream asset of that domain runs once its parents are updated, up to a new model version.",
)


def domain_digest(spec, settings) -> tuple[str, int]:
    """Digest of everything a domain's raw_docs reads: its folders, its inbox, its YAML file and changed pages."""
    from slm_assets.ingest.changes import changed_urls, sources_digest

    folders = [*spec.folder_paths(), *([settings.inbox_dir / spec.name] if spec.sources.use_inbox else [])]
    # conditional requests: only pages whose content changed count
    changed = changed_urls(spec.sources.crawl, settings.duckdb_path, spec.name) if spec.sources.crawl.seed_urls else []
    return sources_digest(folders, settings.domains_dir / f"{spec.name}.yaml", changed)


@dg.sensor(
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.assets("raw_docs"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-reads a domain's documents when its sources change: files in the domain's `sources.folders` "
    "or in warehouse/inbox/<domain>/ (new, edited or removed), its seed pages (conditional requests), or the "
    "domain YAML itself. Downstream assets follow by their automation condition, up to a new model version. One "
    "run per distinct content: the run key is the content digest. The first look at a domain only records it.",
)
def new_documents_sensor(context: dg.SensorEvaluationContext):
    import json

    settings = get_settings()
    seen = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for domain, spec in sorted(load_domains(settings.domains_dir).items()):
        digest, n_files = domain_digest(spec, settings)
        if domain in seen and digest != seen[domain]:
            context.log.info(f"{domain}: sources changed ({n_files} document(s) and pages)")
            requests.append(dg.RunRequest(
                run_key=f"sources-{domain}-{digest}", partition_key=domain,
                tags={"slm_assets/trigger": "new_documents", "slm_assets/source_files": str(n_files)},
            ))
        seen[domain] = digest
    known = set(context.instance.get_dynamic_partitions(domain_partitions.name))
    missing = sorted({r.partition_key for r in requests} - known)
    return dg.SensorResult(
        run_requests=requests, cursor=json.dumps(seen, sort_keys=True),
        skip_reason=None if requests else "no domain's sources changed",
        # a domain added since the partition sensor's last tick gets its partition first
        dynamic_partitions_requests=[domain_partitions.build_add_request(missing)] if missing else [],
    )
