"""MLflow tracking and registry (SQLite under the warehouse by default)."""

import os
from collections.abc import Iterable, Iterator
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

    def log_run(self, domain: str, run_name: str, tags: dict[str, str], metrics: Iterable[tuple[str, float, int]],
                artifacts: Iterable[tuple[Path, str | None]]) -> str:
        """One finished run: each (key, value, step) metric, each artifact (a file, or a folder's files) under its
        artifact path (None: the root). Returns the run's id; the run ends FAILED when logging raises."""
        client = self.client()
        with self.mlflow_run(domain, run_name, tags) as run_id:
            for key, value, step in metrics:
                client.log_metric(run_id, key, value, step=step)
            for path, artifact_path in artifacts:
                log = client.log_artifacts if Path(path).is_dir() else client.log_artifact
                log(run_id, str(path), artifact_path)
        return run_id

    @contextmanager
    def active_run(self, domain: str, run_name: str, tags: dict[str, str]):
        """A run in the domain's experiment made MLflow's active run, for the fluent APIs that need one
        (`mlflow.<flavour>.log_model`); yields its id. Ended FINISHED, or FAILED when the block raises."""
        import mlflow

        run_id = self.start_run(domain, run_name, tags)
        with fluent_uris(self.tracking_uri), mlflow.start_run(run_id=run_id):  # FAILED if the block raises
            yield run_id


def dagster_run_tags(dagster_run_id: str, partition: str, **more: str) -> dict[str, str]:
    """The tags of every MLflow run a Dagster run starts: its run id and partition, the code version, and `more`
    (keys such as `dagster.asset`, spelled with a dot, go in through a dict: `**{"dagster.asset": name}`)."""
    from slm_assets.versioning import code_version

    return {"dagster.run_id": dagster_run_id, "dagster.partition": partition, **more, "code_version": code_version()}


@contextmanager
def fluent_uris(uri: str):
    """MLflow's process-wide tracking and registry URIs set to `uri` for the block, then put back as they were.

    MLflow keeps them as module globals mirrored into environment variables (which child processes inherit);
    its own `_use_tracking_uri` restores the tracking one the same way, there is none for the registry."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved = tracking_utils._tracking_uri, registry_utils._registry_uri
    saved_env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
