"""A failed run is recorded (domain, step, error) and posted as JSON to a real HTTP server on 127.0.0.1."""

import dagster as dg
import pytest

from slm_assets.alerts import read_failures
from slm_assets.defs.alerts import run_failure_alert
from slm_assets.testing.local_http import webhook_server


@pytest.fixture
def webhook():
    """A local hook that stores each POSTed JSON body and answers with the status in `answer`."""
    received, answer = [], {"status": 200}
    with webhook_server(received, answer) as server:
        yield f"{server.url}/hook", received, answer


domain = dg.DynamicPartitionsDefinition(name="domain")


@dg.asset(partitions_def=domain)
def lora_adapter():
    raise RuntimeError("CUDA out of memory while training ev\nsecond line of detail")


def _failed_run_context(instance):
    instance.add_dynamic_partitions("domain", ["ev"])
    result = dg.materialize([lora_adapter], partition_key="ev", instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_failed_run_is_recorded_and_posted(tmp_path, monkeypatch, webhook):
    url, received, _ = webhook
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("SLM_ALERT_WEBHOOK", url)
    with dg.instance_for_test() as instance:
        context = _failed_run_context(instance)
        run_failure_alert(context)
        [failure] = read_failures(tmp_path / "warehouse" / "run_failures.jsonl")
        assert failure.run_id == context.dagster_run.run_id and failure.domain == "ev"
        assert failure.steps == ["lora_adapter"]
        assert failure.error.startswith("RuntimeError: CUDA out of memory while training ev")
        [post] = received
        assert post["content_type"] == "application/json"
        assert post["body"]["domain"] == "ev" and post["body"]["steps"] == ["lora_adapter"]
        assert post["body"]["text"] == "slm_assets: lora_adapter failed for domain ev: RuntimeError: CUDA out of memory while training ev"


def test_without_webhook_only_the_record_and_a_refusing_hook_keeps_the_record(tmp_path, monkeypatch, webhook):
    url, received, answer = webhook
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.delenv("SLM_ALERT_WEBHOOK", raising=False)
    with dg.instance_for_test() as instance:
        context = _failed_run_context(instance)
        run_failure_alert(context)
        assert received == [] and len(read_failures(tmp_path / "warehouse" / "run_failures.jsonl")) == 1
        monkeypatch.setenv("SLM_ALERT_WEBHOOK", url)
        answer["status"] = 500
        run_failure_alert(context)  # the hook refuses: logged, the tick does not fail
        assert len(received) == 1 and len(read_failures(tmp_path / "warehouse" / "run_failures.jsonl")) == 2
