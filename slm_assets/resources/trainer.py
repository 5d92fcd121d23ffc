"""Launching training processes: Dagster Pipes subprocesses here, Kubernetes jobs on a cluster."""

import sys

import dagster as dg
from pydantic import Field


class TrainerResource(dg.ConfigurableResource):
    """Runs `python -m <module>` as a Pipes subprocess with the given extras."""

    python: str = Field(default=sys.executable, description="Interpreter for training processes.")
    extra_env: dict[str, str] = Field(default_factory=dict, description="Environment added to the child.")

    def run(self, context: dg.AssetExecutionContext, module: str, extras: dict) -> dg.MaterializeResult:
        client = dg.PipesSubprocessClient(env={"PYTHONUNBUFFERED": "1", **self.extra_env})
        invocation = client.run(command=[self.python, "-m", module], context=context, extras=extras)
        return invocation.get_materialize_result()
