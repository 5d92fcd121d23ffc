"""Launching training processes: Dagster Pipes subprocesses here, Kubernetes jobs on a cluster."""

import re
import sys

import dagster as dg
from pydantic import Field


class TrainerResource(dg.ConfigurableResource):
    """Runs `python -m <module>` as a Pipes subprocess with the given extras; the child dies with this
    process (parent-death signal, watchdog, own process group: see `slm_assets.processes`)."""

    python: str = Field(default=sys.executable, description="Interpreter for training processes.")
    extra_env: dict[str, str] = Field(default_factory=dict, description="Environment added to the child.")

    def run(self, context: dg.AssetExecutionContext, module: str, extras: dict) -> dg.MaterializeResult:
        from dagster._core.errors import DagsterPipesExecutionError

        from slm_assets.processes import child_env

        client = dg.PipesSubprocessClient(env={"PYTHONUNBUFFERED": "1", **child_env(), **self.extra_env})
        command = [self.python, "-m", "slm_assets.processes", module]  # runs `module` as __main__, guarded
        try:
            invocation = client.run(command=command, context=context, extras=extras)
        except DagsterPipesExecutionError as exc:
            killed = killed_child_message(module, str(exc), extras.get("out_dir"))
            if killed is None:
                raise
            raise dg.Failure(description=killed) from exc
        return invocation.get_materialize_result()


def killed_child_message(module: str, error: str, out_dir: str | None) -> str | None:
    """What to tell when Dagster reports the Pipes child ended by a signal (`failed with code -<signal>`): which
    process, which signal, and what the next run does; None when it exited on its own (its log says why)."""
    import signal

    code = re.search(r"failed with code (-\d+)", error)
    if code is None:
        return None
    number = -int(code.group(1))
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    cause = " (the out-of-memory killer or `kill -9`)" if name == "SIGKILL" else ""
    kept = f"; the next run resumes from the last checkpoint it wrote in {out_dir}, if any" if out_dir else ""
    return f"the training process {module} was killed by {name}{cause}{kept}"
