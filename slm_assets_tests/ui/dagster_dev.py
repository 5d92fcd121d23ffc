"""`dagster dev` as a child process of a test: a free port, signals it can be stopped with, waiting on it with a
deadline, and stopping its whole process group (reporting any process of it left behind)."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from slm_assets.processes import set_parent_death_signal


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_signals() -> None:
    # a shell without job control starts children with SIGINT/SIGTERM ignored; dagster dev would never stop
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    set_parent_death_signal()  # a test run killed with SIGKILL takes dagster dev with it


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, process group, state) of every live process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":  # a zombie has exited; only its parent's wait is missing
            found[int(entry)] = (int(fields[1]), int(fields[2]), fields[0])
    return found


def group_and_descendants(root: int) -> set[int]:
    procs = processes()
    members = {pid for pid, (_, pgid, _) in procs.items() if pgid == root}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in procs.items() if ppid == parent and pid not in members]
        members.update(children)
        frontier.extend(children)
    return members & set(procs)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop(server: subprocess.Popen, log: Path | None = None, exit_s: float = 90, after_s: float = 120) -> list[str]:
    """Stops dagster dev's process group the way Ctrl-C would; returns "pid: command line" of every process of it
    (any name: a run worker is a bare `python -c from multiprocessing...`) still alive `after_s` after dagster dev
    exited, with the tail of its log. The wait is long on purpose: on SIGTERM a code server first waits for the runs
    it launched to end, then for its in-flight calls (DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD), and a heartbeat-watched
    one notices a silent parent only after its --heartbeat-timeout (45 s)."""
    ours = group_and_descendants(server.pid)
    started = time.monotonic()
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=exit_s)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    dev_exit_s = time.monotonic() - started
    deadline = time.monotonic() + after_s
    while time.monotonic() < deadline and (ours | group_and_descendants(server.pid)) & set(processes()):
        time.sleep(1)
    left = (ours | group_and_descendants(server.pid)) & set(processes())
    report = [f"{pid}: {cmdline(pid)[:200]}" for pid in sorted(left)]
    for pid in left:  # never leave them running, even when the test is about to fail on them
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    gone = f"all its processes had exited {time.monotonic() - started:.0f} s after SIGTERM" if not report else \
        f"{len(report)} of its processes were still alive {time.monotonic() - started:.0f} s after SIGTERM"
    print(f"dagster dev exited {dev_exit_s:.0f} s after SIGTERM; {gone}")
    if report and log is not None:
        report.append(f"dagster dev log:\n{tail(log)}")
    return report


def wait_until(what: str, condition, timeout_s: float, server: subprocess.Popen, log: Path, every_s: float = 2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited ({server.returncode}) while waiting for {what}:\n{tail(log)}")
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"no {what} after {timeout_s} s:\n{tail(log)}")


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
