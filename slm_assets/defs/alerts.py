"""The run-failure sensor: every failed run is recorded in the warehouse and, with SLM_ALERT_WEBHOOK, posted."""

from datetime import UTC, datetime

import dagster as dg

from slm_assets.alerts import RunFailure, first_lines, post_alert, record_failure
from slm_assets.settings import get_settings


def root_cause(error):
    """Dagster wraps a step's exception (DagsterExecutionStepExecutionError): the innermost cause is the user's."""
    while error.cause is not None:
        error = error.cause
    return error


def failure_from(context: dg.RunFailureSensorContext) -> RunFailure:
    """Domain from the run's partition tag, steps and errors from its step-failure events (else the run's)."""
    run = context.dagster_run
    events = context.get_step_failure_events()
    errors = [root_cause(e.event_specific_data.error) for e in events if e.event_specific_data and e.event_specific_data.error]
    error = "\n".join(e.message.strip() for e in errors) or (context.failure_event.message or "")
    return RunFailure(
        run_id=run.run_id, job=run.job_name, domain=run.tags.get("dagster/partition"),
        steps=sorted({e.step_key for e in events if e.step_key}), error=first_lines(error) or "unknown error",
        failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Records each failed run (domain, step, error) in warehouse/run_failures.jsonl and, when "
    "SLM_ALERT_WEBHOOK is set, posts it there as JSON.",
)
def run_failure_alert(context: dg.RunFailureSensorContext):
    import httpx

    settings = get_settings()
    failure = failure_from(context)
    record_failure(settings.failures_log, failure)
    context.log.error(failure.summary())
    if settings.alert_webhook:
        try:
            post_alert(settings.alert_webhook, failure)
        except httpx.HTTPError as exc:  # recorded already; a broken hook must not re-run this tick
            context.log.warning(f"the alert webhook did not take the alert ({type(exc).__name__}); the URL is not logged")
