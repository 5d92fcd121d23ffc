"""Runs that died are recognised: their Dagster run is marked failed and its pool slots are freed.

A run process killed with SIGKILL leaves its run STARTED in the instance and its `gpu` pool slot
claimed, so the next run waits forever. Runs started by `slm-assets materialize` carry their
process (PID, start time, host) in tags; before the next materialisation, a run in progress whose
process is dead is reported failed and its slots freed, with one line saying so. Runs launched from
the UI are covered by the daemon's run monitoring (`run_monitoring` in dagster.yaml). A step waiting
for a pool longer than a limit ends its run with a message naming the run that holds the slot.
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from slm_assets.processes import process_alive, process_start_time

log = logging.getLogger(__name__)

PID_TAG = "slm/pid"
PID_START_TAG = "slm/pid_start"
HOST_TAG = "slm/host"
POLL_S = 2.0
RAISE_AGAIN_S = 15.0  # a run still waiting this long after PoolWaitTooLong was raised in it gets it again


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run it executes in-process."""
    return {PID_TAG: str(os.getpid()), PID_START_TAG: str(process_start_time(os.getpid()) or ""),
            HOST_TAG: socket.gethostname()}


def run_process_alive(run) -> bool | None:
    """Whether the process that executes `run` lives: None when unknown (no tags, another machine)."""
    tags = run.tags
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return None
    start = tags.get(PID_START_TAG)
    return process_alive(int(tags[PID_TAG]), int(start) if start else None)


def recover_dead_runs(instance) -> list[str]:
    """Mark runs in progress whose process is dead as failed and free their pool slots; free slots
    still held by finished runs. Returns one line per run cleaned up."""
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    lines = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=in_progress)):
        if run_process_alive(run) is not False:
            continue
        pid = run.tags[PID_TAG]
        instance.report_run_failed(run, f"the process that ran it ({pid} on {run.tags[HOST_TAG]}) is dead "
                                        "(killed or crashed); marked failed by slm-assets before the next run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        lines.append(f"run {run.run_id} ({run.status.value}) was left by process {pid}, which is dead: "
                     "marked failed and its pool slots freed")
    for run_id in sorted(instance.event_log_storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            lines.append(f"run {run_id} ({run.status.value if run else 'deleted'}) still held pool slots: freed")
    return lines


@dataclass
class SlotHolder:
    run_id: str
    step_key: str
    status: str
    alive: bool | None
    pid: str | None
    host: str | None

    def describe(self, pool: str) -> str:
        state = {True: "alive", False: "dead", None: "liveness unknown (not started by slm-assets here)"}[self.alive]
        where = f" as process {self.pid} on {self.host}" if self.pid else ""
        advice = {
            True: f"wait for it, or stop it: `kill {self.pid}` (or Terminate in the Dagster UI)",
            False: "run `slm-assets materialize` again: it marks dead runs failed and frees their slots",
            None: "if it is gone, terminate it in the Dagster UI (Runs -> Terminate) or run "
                  f"`dagster run delete {self.run_id}`; the daemon's run monitoring also frees it",
        }[self.alive]
        return (f"pool {pool!r} is held by run {self.run_id} (step {self.step_key}, {self.status}){where}, "
                f"{state}: {advice}")


def pool_holders(instance, pool: str, except_run: str | None = None) -> list[SlotHolder]:
    """The runs holding `pool`'s slots, with whether their process lives."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    holders = []
    for slot in info.claimed_slots:
        if slot.run_id == except_run:
            continue
        run = instance.get_run_by_id(slot.run_id)
        tags = run.tags if run else {}
        holders.append(SlotHolder(slot.run_id, slot.step_key, run.status.value if run else "deleted",
                                  run_process_alive(run) if run else False, tags.get(PID_TAG), tags.get(HOST_TAG)))
    return holders


class PoolWaitTooLong(Exception):
    """Raised in the thread executing a run whose step waited for a pool longer than the limit."""


class PoolWaitLimit(threading.Thread):
    """Watches one run executed in-process by the thread that creates this watch: when one of its
    steps has waited for a pool longer than `limit_s`, records who holds the pool and raises
    PoolWaitTooLong in that thread, which ends the run as failed.

    Dagster's in-process executor waits for a pool slot in a loop that neither sleeps nor acts on
    SIGINT (interrupts are deferred to user code), so the exception is delivered asynchronously
    (`PyThreadState_SetAsyncExc`) at the loop's next bytecode."""

    def __init__(self, instance, run_id: str, limit_s: float) -> None:
        super().__init__(name="pool-wait-limit", daemon=True)
        self.instance, self.run_id, self.limit_s = instance, run_id, limit_s
        self.message: str | None = None
        self._stop_event = threading.Event()
        self._target_thread = threading.get_ident()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        waiting_since: dict[tuple[str, str], float] = {}
        raised_at: float | None = None
        while not self._stop_event.wait(POLL_S):
            for pool, step_key in self._waiting_steps():
                started = waiting_since.setdefault((pool, step_key), time.monotonic())
                if time.monotonic() - started < self.limit_s:
                    continue
                if raised_at is None:
                    holders = pool_holders(self.instance, pool, except_run=self.run_id)
                    self.message = (f"step {step_key} waited {self.limit_s:.0f} s for pool {pool!r}; "
                                    + ("; ".join(h.describe(pool) for h in holders)
                                       or "no run holds it now (try again)"))
                    log.error(self.message)
                elif time.monotonic() - raised_at < RAISE_AGAIN_S:
                    break
                # Again while the step still waits: an exception delivered inside code that catches and carries
                # on (the executor's wait loop) would otherwise leave the run waiting until the holder is done.
                self._raise_in_target()
                raised_at = time.monotonic()
                break

    def _raise_in_target(self) -> None:
        import ctypes

        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target_thread),
                                                   ctypes.py_object(PoolWaitTooLong))

    def clear_pending(self) -> None:
        """Withdraw an exception raised but not yet delivered (the run ended in the meantime)."""
        import ctypes

        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target_thread), None)

    def _waiting_steps(self) -> list[tuple[str, str]]:
        storage = self.instance.event_log_storage
        if self.run_id not in storage.get_concurrency_run_ids():
            return []
        waiting = []
        for pool in storage.get_concurrency_keys():
            for step in storage.get_concurrency_info(pool).pending_steps:
                if step.run_id == self.run_id and step.assigned_timestamp is None:
                    waiting.append((pool, step.step_key))
        return waiting
