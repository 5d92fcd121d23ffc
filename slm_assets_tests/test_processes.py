"""Children die with their run; a folder written by a live process is refused, a dead one's is taken over."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slm_assets.processes import (
    LOCK_HEARTBEAT_S,
    LOCK_NAME,
    FolderBusy,
    check_folder_free,
    die_with_parent_preexec,
    folder_lock,
    lock_holder,
    process_alive,
    process_start_time,
)
from slm_assets.settings import PROJECT_ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")


def _wait_for(condition, what: str, timeout_s: float = 60.0):
    """Poll `condition` until it returns a truthy value; fail naming `what` after `timeout_s` (a hang guard)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _kill_parent_and_wait_for_child(parent: subprocess.Popen, child_pid: int) -> float:
    try:
        parent.kill()
        parent.wait(timeout=30)
        started = time.monotonic()
        _wait_for(lambda: not process_alive(child_pid), f"child {child_pid} to die with its parent", 30)
        return time.monotonic() - started
    finally:
        if process_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_pipes_training_child_dies_when_its_run_process_is_killed(tmp_path):
    """The real launch path: an asset calls TrainerResource.run; the run process gets SIGKILL."""
    pid_file = tmp_path / "child.json"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "DAGSTER_HOME": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "slm_assets_tests/resources/trainer_parent.py"),
                               str(pid_file)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child = _wait_for(lambda: _read_json(pid_file), "the Pipes child to start", 180)
    except BaseException:
        parent.kill()
        raise
    assert child["ppid"] == parent.pid and child["pgid"] == child["pid"]  # its own process group
    _kill_parent_and_wait_for_child(parent, child["pid"])


def test_popen_child_dies_with_its_parent(tmp_path):
    """Non-Python children (a llama.cpp server, a benchmark's server) get the same guard through preexec_fn."""
    script = ("import subprocess, sys; from slm_assets.processes import die_with_parent_preexec; "
              "p = subprocess.Popen(['sleep', '300'], preexec_fn=die_with_parent_preexec()); "
              "print(p.pid, flush=True); p.wait()")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    child_pid = int(parent.stdout.readline())
    assert os.getpgid(child_pid) == child_pid
    _kill_parent_and_wait_for_child(parent, child_pid)


def test_preexec_guard_is_harmless_while_the_parent_lives():
    done = subprocess.run(["sh", "-c", "echo ok"], preexec_fn=die_with_parent_preexec(), capture_output=True,
                          text=True, check=True)
    assert done.stdout == "ok\n"


def _write_lock(folder: Path, pid: int, start_time: int | None, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({
        "pid": pid, "start_time": start_time, "host": host or socket.gethostname(),
        "purpose": "lora_adapter training", "locked_at": "2026-11-29T12:00:00+00:00"}))


def test_lock_held_by_a_live_process_refuses_naming_it_and_the_folder(tmp_path):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        _write_lock(tmp_path / "lora", holder.pid, process_start_time(holder.pid))
        with pytest.raises(FolderBusy) as refused, folder_lock(tmp_path / "lora", "lora_adapter training"):
            pytest.fail("the lock was taken while its holder lives")
        with pytest.raises(FolderBusy):
            check_folder_free(tmp_path / "lora")
    finally:
        holder.kill()
        holder.wait()
    message = str(refused.value)
    assert f"process {holder.pid}" in message and str(tmp_path / "lora") in message
    assert f"kill {holder.pid}" in message
    assert lock_holder(tmp_path / "lora")["pid"] == holder.pid  # the live holder's lock was left alone


@pytest.mark.parametrize("how", ["dead pid", "reused pid"])
def test_stale_lock_is_taken_over_with_a_log_line(tmp_path, caplog, how):
    if how == "dead pid":
        gone = subprocess.Popen(["true"])
        gone.wait()
        _write_lock(tmp_path / "lora", gone.pid, 12345)
    else:  # this PID lives, but it is not the process that took the lock (started at another time)
        _write_lock(tmp_path / "lora", os.getpid(), (process_start_time(os.getpid()) or 0) + 1)
    check_folder_free(tmp_path / "lora")
    with caplog.at_level(logging.WARNING, logger="slm_assets.processes"):
        with folder_lock(tmp_path / "lora", "lora_adapter training") as lock:
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert "taking over the stale lock" in caplog.text and str(tmp_path / "lora") in caplog.text
    assert not (tmp_path / "lora" / LOCK_NAME).exists()  # released on exit


def test_lock_of_another_host_holds_while_its_heartbeat_is_fresh(tmp_path):
    _write_lock(tmp_path / "lora", 1, None, host="some-other-machine")
    with pytest.raises(FolderBusy, match="some-other-machine"):
        check_folder_free(tmp_path / "lora")
    old = time.time() - 5 * LOCK_HEARTBEAT_S  # its pod died long ago: no heartbeat since
    os.utime(tmp_path / "lora" / LOCK_NAME, (old, old))
    check_folder_free(tmp_path / "lora")
