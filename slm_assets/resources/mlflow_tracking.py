"""MLflow tracking and registry (SQLite under the warehouse by default)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field


class TrackingResource(dg.ConfigurableResource):
    """A thin resource over MLflow: one experiment per domain, runs ended explicitly."""

    tracking_uri: str = Field(description="e.g. sqlite:///warehouse/mlflow.db or http://mlflow:5000")
    artifacts_dir: str = Field(description="Artifact root for experiments this resource creates.")

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, domain: str) -> str:
        client = self.client()
        name = f"slm_assets/{domain}"
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = Path(self.artifacts_dir).resolve() / domain
        location.mkdir(parents=True, exist_ok=True)
        return client.create_experiment(name, artifact_location=location.as_uri())

    def start_run(self, domain: str, run_name: str, tags: dict[str, str]) -> str:
        run = self.client().create_run(self.experiment_id(domain), run_name=run_name, tags=tags)
        return run.info.run_id

    def end_run(self, run_id: str, ok: bool) -> None:
        self.client().set_terminated(run_id, status="FINISHED" if ok else "FAILED")

    @contextmanager
    def mlflow_run(self, domain: str, run_name: str, tags: dict[str, str]) -> Iterator[str]:
        """A run's id for the block; the run ends FINISHED when the block completes, FAILED when it raises."""
        run_id = self.start_run(domain, run_name, tags)
        ok = False
        try:
            yield run_id
            ok = True
        finally:
            self.end_run(run_id, ok)
