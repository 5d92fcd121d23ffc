"""Launching training processes: Dagster Pipes subprocesses here, Kubernetes jobs on a cluster."""

import sys

import dagster as dg
from pydantic import Field


class TrainerResource(dg.ConfigurableResource):
    """Runs `python -m <module>` as a Pipes subprocess with the given extras; the child dies with this
    process (parent-death signal, watchdog, own process group: see `slm_assets.processes`)."""

    python: str = Field(default=sys.executable, description="Interpreter for training processes.")
    extra_env: dict[str, str] = Field(default_factory=dict, description="Environment added to the child.")

    def run(self, context: dg.AssetExecutionContext, module: str, extras: dict) -> dg.MaterializeResult:
        from slm_assets.processes import child_env

        client = dg.PipesSubprocessClient(env={"PYTHONUNBUFFERED": "1", **child_env(), **self.extra_env})
        command = [self.python, "-m", "slm_assets.processes", module]  # runs `module` as __main__, guarded
        invocation = client.run(command=command, context=context, extras=extras)
        return invocation.get_materialize_result()
