"""Jobs, the domain-partition sync sensor and the weekly refresh schedule."""

import dagster as dg

from slm_assets.defs.partitions import domain_partitions
from slm_assets.domains import load_domains
from slm_assets.settings import get_settings

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


@dg.schedule(cron_schedule="0 3 * * 1", job=build_domain_model, execution_timezone="UTC",
             description="Weekly refresh of every domain (Mondays 03:00 UTC).")
def weekly_refresh(context: dg.ScheduleEvaluationContext):
    for domain in context.instance.get_dynamic_partitions(domain_partitions.name):
        yield dg.RunRequest(run_key=f"weekly-{domain}-{context.scheduled_execution_time:%Y%m%d}", partition_key=domain)




@dg.sensor(
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.assets("raw_docs"),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Re-reads a domain's documents when files in warehouse/inbox/<domain>/ change (new, edited or "
    "removed); downstream assets follow by their automation condition, up to a new model version. One run per "
    "distinct content: the run key is the content digest, so the same files never run twice.",
)
def new_documents_sensor(context: dg.SensorEvaluationContext):
    import hashlib
    import json

    from slm_assets.ingest.changes import changed_urls, inbox_digest

    settings = get_settings()
    seen = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for domain, spec in sorted(load_domains(settings.domains_dir).items()):
        digest, n_files = inbox_digest(settings.inbox_dir / domain)
        if spec.sources.crawl.seed_urls:  # conditional requests: only pages that changed count
            changed = changed_urls(spec.sources.crawl, settings.duckdb_path, domain)
            if changed:
                digest = hashlib.sha256((digest + "".join(changed)).encode()).hexdigest()[:16]
                n_files += len(changed)
                context.log.info(f"{domain}: {len(changed)} page(s) changed: {changed[:5]}")
        if digest and digest != seen.get(domain):
            requests.append(dg.RunRequest(
                run_key=f"inbox-{domain}-{digest}", partition_key=domain,
                tags={"slm_assets/trigger": "new_documents", "slm_assets/inbox_files": str(n_files)},
            ))
        if digest:
            seen[domain] = digest
    if not requests:
        return dg.SkipReason("no inbox changed")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
