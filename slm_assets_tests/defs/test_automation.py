"""Sensors and the schedule, evaluated with Dagster's test contexts."""

import dagster as dg
import pytest

from slm_assets.defs.automation import domain_partitions_sensor, new_documents_sensor, weekly_refresh


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    domains = tmp_path / "domains"
    domains.mkdir()
    (domains / "ev.yaml").write_text("name: ev\ntopic: EV charging\n")
    monkeypatch.setenv("SLM_DOMAINS_DIR", str(domains))
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    return tmp_path


def _tick(instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = new_documents_sensor(context)
    requests = result.run_requests if isinstance(result, dg.SensorResult) else []
    return requests, (result.cursor if isinstance(result, dg.SensorResult) and result.cursor else cursor)


def test_new_file_one_run_same_file_none_changed_file_one(workspace):
    inbox = workspace / "warehouse" / "inbox" / "ev"
    inbox.mkdir(parents=True)
    with dg.instance_for_test() as instance:
        requests, cursor = _tick(instance, None)
        assert requests == []
        (inbox / "new.md").write_text("# New charger rules\n\nA new rule about connectors.")
        requests, cursor = _tick(instance, cursor)
        assert len(requests) == 1 and requests[0].partition_key == "ev"
        first_key = requests[0].run_key
        requests, cursor = _tick(instance, cursor)
        assert requests == []  # the same file again: nothing retrains
        (inbox / "new.md").write_text("# New charger rules\n\nThe rule changed.")
        requests, cursor = _tick(instance, cursor)
        assert len(requests) == 1 and requests[0].run_key != first_key


def test_domain_folders_and_yaml_count_once_per_distinct_content(workspace):
    """Files a user adds to the domain's own `sources.folders`, and edits of the domain YAML, request raw_docs."""
    folder = workspace / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Connectors\n\nType 2 and CCS.")
    yaml_path = workspace / "domains" / "ev.yaml"
    yaml_path.write_text(f"name: ev\ntopic: EV charging\nsources:\n  folders: ['{folder}']\n")
    with dg.instance_for_test() as instance:
        requests, cursor = _tick(instance, None)
        assert requests == []
        (folder / "b.md").write_text("# Tariffs\n\nPer kWh pricing.")
        requests, cursor = _tick(instance, cursor)
        assert [r.partition_key for r in requests] == ["ev"]
        first_key = requests[0].run_key
        (folder / "b.md").write_text("# Tariffs\n\nPer kWh pricing.")  # rewritten, same bytes
        assert _tick(instance, cursor)[0] == []
        yaml_path.write_text(yaml_path.read_text() + "synth:\n  n_pairs: 40\n")  # a settings change
        requests, cursor = _tick(instance, cursor)
        assert len(requests) == 1 and requests[0].run_key not in (first_key, None)
        (folder / "b.md").unlink()  # a removed document is a change too
        requests, cursor = _tick(instance, cursor)
        assert len(requests) == 1


def test_a_request_for_a_domain_without_partition_adds_the_partition(workspace):
    inbox = workspace / "warehouse" / "inbox" / "ev"
    inbox.mkdir(parents=True)
    with dg.instance_for_test() as instance:
        _, cursor = _tick(instance, None)
        (inbox / "new.md").write_text("# New\n\ntext")
        result = new_documents_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["ev"]]
        instance.add_dynamic_partitions("domain", ["ev"])
        (inbox / "new.md").write_text("# New\n\nother text")
        result = new_documents_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert len(result.run_requests) == 1 and result.dynamic_partitions_requests == []


def test_automation_runs_by_default_and_replaces_the_default_condition_sensor():
    from slm_assets.definitions import defs

    repo = defs().get_repository_def()
    sensors = {s.name: s for s in repo.sensor_defs}
    assert "default_automation_condition_sensor" not in sensors  # every automated asset is covered by ours
    for name in ("automation_condition_sensor", "new_documents_sensor", "domain_partitions_sensor"):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING, name
    assert repo.get_schedule_def("weekly_refresh").default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize(("cron", "expected_cron", "expected_status"), [
    ("0 4 * * *", "0 4 * * *", dg.DefaultScheduleStatus.RUNNING),
    ("", "0 3 * * 1", dg.DefaultScheduleStatus.STOPPED),
])
def test_refresh_cron_sets_the_schedule_and_empty_leaves_it_stopped(monkeypatch, cron, expected_cron,
                                                                     expected_status):
    import importlib

    import slm_assets.defs.automation as automation

    monkeypatch.setenv("SLM_REFRESH_CRON", cron)
    try:
        schedule = importlib.reload(automation).weekly_refresh
        assert (schedule.cron_schedule, schedule.default_status) == (expected_cron, expected_status)
    finally:
        monkeypatch.delenv("SLM_REFRESH_CRON")
        importlib.reload(automation)


def test_partition_sensor_adds_and_removes_domains(workspace):
    with dg.instance_for_test() as instance:
        result = domain_partitions_sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["ev"]]
        instance.add_dynamic_partitions("domain", ["ev", "gone"])
        result = domain_partitions_sensor(dg.build_sensor_context(instance=instance))
        assert [type(r).__name__ for r in result.dynamic_partitions_requests] == ["DeleteDynamicPartitionsRequest"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["gone"]


def test_weekly_schedule_requests_one_run_per_domain(workspace):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("domain", ["ev", "solar"])
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=__import__("datetime").datetime(2026, 11, 23, 3))
        requests = list(weekly_refresh(context))
        assert [r.partition_key for r in requests] == ["ev", "solar"]
        assert requests[0].run_key == "weekly-ev-20261123"


def test_changed_url_content_requests_one_run_and_unchanged_none(workspace):
    """The sensor re-checks a domain's seed URLs (conditional requests): new content once, same content never."""
    from slm_assets.testing.local_http import page_server

    pages = {"/tariffs.html":
             b"<html><body><article><h1>Tariffs</h1><p>Charging costs 0.39 EUR per kWh.</p></article></body></html>"}
    with page_server(pages) as server, dg.instance_for_test() as instance:
        (workspace / "domains" / "ev.yaml").write_text(
            "name: ev\ntopic: EV charging\nsources:\n  crawl:\n"
            f"    seed_urls: ['{server.url}/tariffs.html']\n    delay_s: 0\n"
            "    allowed_private_networks: ['127.0.0.1/32']\n")
        requests, cursor = _tick(instance, None)
        assert requests == []  # the first look records the domain's sources
        requests, cursor = _tick(instance, cursor)
        assert requests == []  # same bytes again: nothing retrains
        pages["/tariffs.html"] = pages["/tariffs.html"].replace(b"0.39", b"0.45")
        requests, cursor = _tick(instance, cursor)
        assert len(requests) == 1
