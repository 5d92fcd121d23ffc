"""What the chaos tests share: a workspace that runs `slm-assets materialize` as a real process, and a `kill -9`
of that process inside a step, checked for what it leaves behind (a STARTED run, no living process)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from slm_assets.processes import die_with_parent_preexec, process_alive
from slm_assets.run_recovery import PID_TAG
from slm_assets.settings import PROJECT_ROOT
from slm_assets_tests.helpers import write_domain

DOMAIN = "tiny"
LOCAL_ONLY = {"GROQ_API_KEY", "SLM_MLFLOW_TRACKING_URI", "SLM_ALERT_WEBHOOK"}  # the workspace's own, never the shell's
ORPHAN_LIMIT_S = 30.0  # Dagster's compute-log capture (`tail -F`, `watch_orphans.py`) ends within a poll interval
OUR_PROCESS_LIMIT_S = 5.0  # a process the project started (a Pipes child, the GGUF converter) dies with its parent


class Workspace:
    """A domain, a warehouse and a DAGSTER_HOME; runs `slm-assets materialize` as a real process."""

    def __init__(self, root: Path, models_cache: Path, folders: list[str], env: dict | None = None,
                 **domain) -> None:
        self.home, self.warehouse = root / "dagster_home", root / "warehouse"
        self.home.mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        write_domain(root / "domains", DOMAIN, folders, **domain)
        inherited = {k: v for k, v in os.environ.items() if k not in LOCAL_ONLY}
        self.env = {**inherited, "DAGSTER_HOME": str(self.home), "SLM_DOMAINS_DIR": str(root / "domains"),
                    "SLM_WAREHOUSE_DIR": str(self.warehouse), "SLM_MODELS_CACHE": str(models_cache),
                    "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                    **(env or {})}

    def start(self, select: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "slm_assets.cli", "materialize", "--domain", DOMAIN,
                                 "--select", select], env=self.env, cwd=PROJECT_ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent_preexec())

    def run(self, select: str) -> tuple[str, float]:
        started = time.monotonic()
        process = self.start(select)
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
        return output, time.monotonic() - started

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def artifacts(self, kind: str) -> Path:
        return self.warehouse / "artifacts" / DOMAIN / kind


def step_events(instance, run_id: str, step: str) -> set[str]:
    return {e.dagster_event.event_type_value for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.step_key == step}


def group_members(pgid: int) -> list[int]:
    return [pid for pid, stat in _stats().items() if int(stat[2]) == pgid]  # field 5: process group


def descendants(pid: int) -> dict[int, str]:
    """Every living descendant of `pid`, with its command line."""
    parents = {child: int(stat[1]) for child, stat in _stats().items()}  # field 4: parent
    found, frontier = {}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier and child not in found}
        found.update({child: _command_line(child) for child in frontier})
    return found


def _stats() -> dict[int, list[str]]:
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    return stats


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ours(command_line: str) -> bool:
    """A process the project started: a Pipes child (`slm_assets.processes`) or a stage's own tool."""
    return " -m slm_assets." in command_line


def wait_until(what: str, ready: Callable[[subprocess.Popen], bool], process: subprocess.Popen,
               limit_s: float = 600) -> None:
    """Poll `ready(process)` every 50 ms while `process` runs; fails when it ends (or `limit_s` passes) first."""
    deadline = time.monotonic() + limit_s
    while process.poll() is None and not ready(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is not None or not ready(process):
        output = process.communicate()[0] if process.poll() is not None else ""
        raise AssertionError(f"the run ended (or {limit_s:.0f} s passed) before {what}: {output[-3000:]}")


def run_of_process(instance, pid: int) -> str:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(pid)}))
    assert runs, "the command started no run"
    return runs[0].run_id


def assert_gone(pids: dict[int, str], limit_s: float) -> float:
    """Waits until none of `pids` lives; fails naming those alive `limit_s` later. Returns the seconds it took."""
    started = time.monotonic()
    while (left := {p: c for p, c in pids.items() if process_alive(p)}) and time.monotonic() - started < limit_s:
        time.sleep(0.1)
    assert left == {}, f"processes of the killed run still alive {limit_s:.0f} s later: {left}"
    return time.monotonic() - started


def kill_inside(workspace: Workspace, select: str, step: str, ready: Callable[[subprocess.Popen], bool],
                where: str) -> dict:
    """Start `materialize --select select`, SIGKILL it once `ready(process)` holds; asserts that `step` started and did not
    finish, that the run is left STARTED (what a kill -9 leaves), that every process the project started below the
    command dies within seconds and the command's process group within ORPHAN_LIMIT_S. Returns where it landed."""
    process = workspace.start(select)
    wait_until(where, ready, process)
    below = descendants(process.pid)
    process.send_signal(signal.SIGKILL)  # at once: the step goes on while the test looks around
    process.wait()
    killed_at = time.monotonic()
    ours_gone_s = assert_gone({p: c for p, c in below.items() if ours(c)}, OUR_PROCESS_LIMIT_S)
    assert_gone({p: "" for p in group_members(process.pid)} | below, ORPHAN_LIMIT_S)
    group_gone_s = time.monotonic() - killed_at
    with workspace.instance() as instance:
        run_id = run_of_process(instance, process.pid)
        events = step_events(instance, run_id, step)
        status = instance.get_run_by_id(run_id).status
    assert "STEP_START" in events and "STEP_SUCCESS" not in events, events
    assert status == dg.DagsterRunStatus.STARTED
    return {"asset": step, "killed_while": where, "run_id": run_id, "killed": "slm-assets materialize",
            "project_processes_at_kill": sorted(c.split(" -m ", 1)[-1].split()[0] for c in below.values() if ours(c)),
            "project_processes_gone_after_s": round(ours_gone_s, 1),
            "group_empty_after_s": round(group_gone_s, 1)}


def recovery_line(output: str, run_id: str) -> str:
    """The one line in which the recovering command says the killed run was marked failed and its slots freed."""
    said = [line for line in output.splitlines() if line.startswith(f"run {run_id} (STARTED)")]
    assert len(said) == 1 and "dead: marked failed and its pool slots freed" in said[0], output[-3000:]
    return said[0]
