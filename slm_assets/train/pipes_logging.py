"""What a training child process logs: metrics and parameters to MLflow by run id (no global active-run state),
evaluations and progress lines to Dagster through Pipes."""

import logging
import time
from pathlib import Path

from slm_assets.progress import progress_line

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


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressCadence:
    """A progress line at the first step, then every `fraction` of the planned steps or every `every_s` seconds,
    whichever comes first, and at the last step: step, losses, time per step and an estimate of what is left
    (from the pace of this process, so a resumed run estimates from its own steps)."""

    def __init__(self, total_steps: int, fraction: float = 0.05, every_s: float = 30.0, clock=time.monotonic):
        self.total, self.every_s, self.clock = total_steps, every_s, clock
        self.every_steps = max(1, int(total_steps * fraction))
        self.first: tuple[int, float] | None = None  # (step, time) of the first step seen
        self.last: tuple[int, float] = (0, 0.0)

    def line(self, step: int, metrics: dict) -> str | None:
        now = self.clock()
        if self.first is None:
            self.first = self.last = (step, now)
        elif step == self.last[0] or not (step >= self.total or step - self.last[0] >= self.every_steps
                                          or now - self.last[1] >= self.every_s):
            return None
        else:
            self.last = (step, now)
        text = progress_line(step / self.total, f"step {step}/{self.total}")
        text += "".join(f", {k} {metrics[k]:.4f}" for k in ("loss", "eval_loss") if k in metrics)
        if step > self.first[0]:
            per_step = (now - self.first[1]) / (step - self.first[0])
            text += f", {per_step:.1f} s/step, ETA {duration(per_step * max(0, self.total - step))}"
        return text


def pipes_training_logger(pipes, extras: dict, config_prefix: str, config):
    """The MLflow run named in the Pipes extras, with the run's parameters logged, and a per-step sink that
    sends every metric to MLflow, every evaluation to the Dagster log, and a progress line at a steady cadence
    (every 5 % of the steps or 30 s)."""
    import json

    tracker = MlflowRunLogger(extras["tracking_uri"], extras["mlflow_run_id"])
    tracker.params({"base_model": extras["base_model"], "dataset_hash": extras["dataset_hash"],
                    **{f"{config_prefix}.{k}": v for k, v in config.model_dump().items()}})
    cadence = ProgressCadence(config.max_steps)

    def sink(step: int, metrics: dict) -> None:
        tracker.metrics(step, metrics)
        if "eval_loss" in metrics:
            pipes.log.info(f"step {step}: " + json.dumps({k: round(v, 5) for k, v in metrics.items()}))
        line = cadence.line(step, metrics) if "loss" in metrics else None
        if line:
            pipes.log.info(line)

    return tracker, sink
