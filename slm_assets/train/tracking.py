"""MLflow logging from inside a training process, by run id (no global active-run state)."""

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class MlflowRunLogger:
    def __init__(self, tracking_uri: str, run_id: str):
        from mlflow.tracking import MlflowClient

        self.client, self.run_id = MlflowClient(tracking_uri), run_id

    def metrics(self, step: int, values: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key=k.replace("/", "_"), value=float(v), timestamp=now, step=step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def params(self, values: dict) -> None:
        from mlflow.entities import Param

        params = [Param(str(k), str(v)[:6000]) for k, v in values.items()]
        for i in range(0, len(params), 90):
            self.client.log_batch(self.run_id, params=params[i : i + 90])

    def artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)


def pipes_training_logger(pipes, extras: dict, config_prefix: str, config, log_every: int):
    """The MLflow run named in the Pipes extras, with the run's parameters logged, and a per-step sink that
    sends every metric to MLflow and every `log_every` steps (and step 1) a line to the Dagster log."""
    import json

    tracker = MlflowRunLogger(extras["tracking_uri"], extras["mlflow_run_id"])
    tracker.params({"base_model": extras["base_model"], "dataset_hash": extras["dataset_hash"],
                    **{f"{config_prefix}.{k}": v for k, v in config.model_dump().items()}})

    def sink(step: int, metrics: dict) -> None:
        tracker.metrics(step, metrics)
        if "eval_loss" in metrics or step % log_every == 0 or step == 1:
            pipes.log.info(f"step {step}: " + json.dumps({k: round(v, 5) for k, v in metrics.items()}))

    return tracker, sink
