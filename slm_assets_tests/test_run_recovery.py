"""Runs that died are recognised: marked failed, pool slots freed; a wait for a held pool ends with a message."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from slm_assets.cli import execute_with_pool_limit
from slm_assets.processes import process_alive
from slm_assets.run_recovery import PID_TAG, pool_holders, recover_dead_runs
from slm_assets.settings import PROJECT_ROOT


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """A temporary DAGSTER_HOME with the project's dagster.yaml (pool `gpu` limited to one step)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _start_holder(home: Path, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """A run process that holds the `gpu` slot; returns it and its run id once the slot is held."""
    run_id_file = tmp_path / "holder_run_id"
    holder = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "slm_assets_tests" / "pool_holder.py"),
                               str(run_id_file)], env={**os.environ, "DAGSTER_HOME": str(home),
                                                       "PYTHONPATH": str(PROJECT_ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180  # a hang guard, not a speed assertion
    while not run_id_file.exists():
        if holder.poll() is not None or time.monotonic() > deadline:
            holder.kill()
            pytest.fail(f"the pool holder did not start (exit code {holder.poll()})")
        time.sleep(0.3)
    return holder, run_id_file.read_text()


@pytest.fixture
def holder(dagster_home, tmp_path):
    process, run_id = _start_holder(dagster_home, tmp_path)
    yield process, run_id
    if process.poll() is None:
        process.kill()
        process.wait()


def test_run_left_by_a_killed_process_is_marked_failed_and_its_slot_freed(holder):
    process, run_id = holder
    with dg.DagsterInstance.get() as instance:
        assert [h.run_id for h in pool_holders(instance, "gpu")] == [run_id]
        assert instance.get_run_by_id(run_id).tags[PID_TAG] == str(process.pid)
        assert recover_dead_runs(instance) == []  # alive: left alone

        process.send_signal(signal.SIGKILL)
        process.wait()
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # what a kill -9 leaves
        lines = recover_dead_runs(instance)

        assert len(lines) == 1 and run_id in lines[0] and "dead" in lines[0] and "slots freed" in lines[0]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert pool_holders(instance, "gpu") == []
        assert run_id not in instance.event_log_storage.get_concurrency_run_ids()
        assert recover_dead_runs(instance) == []  # nothing left to do


def test_wait_for_a_held_pool_ends_with_who_holds_it(holder):
    process, holder_run = holder

    @dg.asset(pool="gpu")
    def needs_gpu() -> None:
        pytest.fail("ran while another run held the gpu slot")

    job = dg.Definitions(assets=[needs_gpu]).get_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        result, message = execute_with_pool_limit(job, instance, None, None, limit_s=3)
        assert message is not None, "the run did not stop waiting"
        assert f"held by run {holder_run}" in message and "alive" in message and f"kill {process.pid}" in message
        assert result is None or not result.success
        waiting = [r for r in instance.get_runs() if r.run_id != holder_run]
        assert len(waiting) == 1 and waiting[0].is_finished  # ended, not left waiting
        assert waiting[0].run_id not in instance.event_log_storage.get_concurrency_run_ids()
    assert process_alive(process.pid)  # the holder was not touched


def test_materialize_command_cleans_up_a_dead_run_before_it_starts(holder, tiny_domain, monkeypatch):
    from typer.testing import CliRunner

    from slm_assets.cli import app

    process, dead_run = holder
    process.send_signal(signal.SIGKILL)
    process.wait()
    monkeypatch.setenv("SLM_DOMAINS_DIR", str(tiny_domain["domains_dir"]))
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tiny_domain["warehouse"]))
    outcome = CliRunner().invoke(app, ["materialize", "--domain", "tiny", "--select", "raw_docs"])
    assert outcome.exit_code == 0, outcome.output
    first = outcome.output.splitlines()[0]
    assert first == (f"run {dead_run} (STARTED) was left by process {process.pid}, which is dead: "
                     "marked failed and its pool slots freed")
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.FAILURE
        ours = [r for r in instance.get_runs() if r.run_id != dead_run]
        assert len(ours) == 1 and ours[0].status == dg.DagsterRunStatus.SUCCESS
        assert ours[0].tags[PID_TAG] == str(os.getpid())  # tagged, so a later run can tell if it died


def test_the_pool_wait_limit_raises_again_while_the_run_goes_on_waiting(monkeypatch):
    """Code that catches the first PoolWaitTooLong and carries on waiting (as an executor's retry loop can) gets it
    again, so the run ends instead of waiting until the holder is done."""
    import slm_assets.run_recovery as run_recovery

    monkeypatch.setattr(run_recovery, "POLL_S", 0.05)
    monkeypatch.setattr(run_recovery, "RAISE_AGAIN_S", 0.2)
    monkeypatch.setattr(run_recovery, "pool_holders", lambda *args, **kwargs: [])
    monkeypatch.setattr(run_recovery.PoolWaitLimit, "_waiting_steps", lambda self: [("gpu", "needs_gpu")])
    watch = run_recovery.PoolWaitLimit(instance=None, run_id="r", limit_s=0.1)
    received, deadline = 0, time.monotonic() + 30  # a hang guard
    watch.start()
    try:
        while received < 2 and time.monotonic() < deadline:
            try:
                for _ in range(1000):  # bytecode, where an asynchronous exception is delivered
                    time.sleep(0.001)
            except run_recovery.PoolWaitTooLong:
                received += 1  # swallowed: the "executor" keeps waiting
    finally:
        watch.stop()
        watch.join()
        watch.clear_pending()
    assert received == 2 and "waited 0 s for pool 'gpu'" in watch.message
