"""Child processes that die with their parent, and folder locks that know whether their holder lives.

A run killed with SIGKILL (the OOM killer, a reboot, `kill -9`) cannot clean up after itself, so
every child the project starts arranges its own end: Linux's parent-death signal
(`prctl(PR_SET_PDEATHSIG)`) kills it the moment its parent dies, a watchdog thread on the parent
PID does the same where prctl is missing, and its own process group lets one signal reach its
descendants. A folder a training process writes into carries a lock file naming that process
(PID and start time), so a second run refuses to write there while the first still lives, and
takes the lock over once it is dead.

`python -m slm_assets.processes MODULE` runs MODULE as `__main__` with that guard in place: how the
trainer launches its Pipes children.
"""

import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_PID_ENV = "SLM_PARENT_PID"  # set by the launcher: the PID the child must outlive by no more than a moment
WATCHDOG_INTERVAL_S = 1.0
LOCK_NAME = ".slm-writer.lock"
LOCK_HEARTBEAT_S = 30.0  # the holder touches its lock this often; another machine's lock older than 4x is stale


def usable_cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `sig` to this process when the thread that started it exits; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def die_with_parent_preexec(parent_pid: int | None = None) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets its own process group and SIGKILL when
    the parent dies. Runs between fork and exec, so it starts no thread (a watchdog needs Python)."""
    parent = parent_pid or os.getpid()

    def preexec() -> None:
        os.setpgid(0, 0)
        set_parent_death_signal()
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


def child_env(parent_pid: int | None = None) -> dict[str, str]:
    """Environment that tells a Python child launched by someone else's Popen whom to outlive."""
    return {PARENT_PID_ENV: str(parent_pid or os.getpid())}


def guard_from_environment() -> bool:
    """In a Python child: die with the parent named by `SLM_PARENT_PID` (no-op when unset)."""
    value = os.environ.get(PARENT_PID_ENV)
    if not value:
        return False
    die_with_parent(int(value))
    return True


def die_with_parent(parent_pid: int) -> None:
    """Own process group, parent-death signal, and a watchdog thread that ends the group when the
    parent is gone (the parent-death signal covers Linux; the watchdog every POSIX system)."""
    try:
        os.setpgid(0, 0)
    except PermissionError:  # already a session leader: it leads its own group
        pass
    set_parent_death_signal()
    if os.getppid() != parent_pid:
        _end_own_group()

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL_S)
            if os.getppid() != parent_pid:  # re-parented: the parent died
                log.error("parent process %d is gone; ending process group %d", parent_pid, os.getpgid(0))
                _end_own_group()

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _end_own_group() -> None:
    if os.getpgid(0) == os.getpid():  # this process leads its group: its descendants go with it
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (Linux), to tell a live holder from a reused PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in parentheses may hold spaces


def process_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether `pid` runs (a zombie does not), and is the same process when `start_time` is given."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc: os.kill said it exists
    if state in ("Z", "X"):
        return False
    return start_time is None or process_start_time(pid) == start_time


class FolderBusy(RuntimeError):
    """Another live process writes into the folder; the message names it and the folder."""


def lock_holder(folder: Path) -> dict | None:
    """The lock's content, or None when the folder has no lock (an unreadable lock counts as none)."""
    try:
        return json.loads((folder / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None


def holder_alive(holder: dict, lock: Path) -> bool:
    """Same machine: the PID runs and started when the lock says. Another machine (a shared volume,
    a Kubernetes pod): its PID cannot be checked from here, so the lock's heartbeat must be recent."""
    if holder.get("host") == socket.gethostname():
        return process_alive(int(holder["pid"]), holder.get("start_time"))
    try:
        return time.time() - lock.stat().st_mtime < 4 * LOCK_HEARTBEAT_S
    except OSError:
        return False


def check_folder_free(folder: Path) -> None:
    """Raise FolderBusy when a live process from an earlier run holds the folder's lock."""
    holder = lock_holder(folder)
    if holder is not None and holder_alive(holder, folder / LOCK_NAME):
        raise FolderBusy(
            f"{folder} is still being written by process {holder['pid']} on {holder.get('host')} "
            f"({holder.get('purpose', 'unknown')}, since {holder.get('locked_at')}), left over from an earlier run. "
            f"Wait for it to finish or stop it (`kill {holder['pid']}`), then run again."
        )


def check_folders_free(folders: Iterable[Path]) -> None:
    """check_folder_free for each folder: FolderBusy names the first one a live process still holds."""
    for folder in folders:
        check_folder_free(folder)


@contextmanager
def folder_lock(folder: Path, purpose: str) -> Iterator[Path]:
    """Hold `folder` for this process while writing into it; a stale lock (dead holder) is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    me = {"pid": os.getpid(), "start_time": process_start_time(os.getpid()), "host": socket.gethostname(),
          "purpose": purpose, "locked_at": datetime.now(UTC).isoformat(timespec="seconds")}
    for _attempt in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            check_folder_free(folder)
            stale = lock_holder(folder) or {}
            log.warning("taking over the stale lock of %s: its holder, process %s (%s), is dead",
                        folder, stale.get("pid", "?"), stale.get("purpose", "unknown"))
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:
        raise FolderBusy(f"{folder}: could not take its lock {lock} (another process keeps taking it)")
    released = threading.Event()

    def heartbeat() -> None:
        while not released.wait(LOCK_HEARTBEAT_S):
            try:
                os.utime(lock)
            except OSError:
                return

    threading.Thread(target=heartbeat, name="folder-lock-heartbeat", daemon=True).start()
    try:
        yield lock
    finally:
        released.set()
        if (lock_holder(folder) or {}).get("pid") == me["pid"]:
            lock.unlink(missing_ok=True)


def _run_module(module: str) -> None:
    import runpy

    guard_from_environment()
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _run_module(sys.argv[1])
