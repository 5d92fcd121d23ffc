"""The shell of a training child process launched through Dagster Pipes: the stage config from the Pipes extras,
the output folder held for this process, MLflow and Dagster logging, and the result reported as the asset's
materialisation."""

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from slm_assets.storage import write_text_atomically
from slm_assets.train.plots import TRAIN_AND_EVAL_LOSS, loss_curve


def run_training_child(config_type, config_key: str, asset: str, param_prefix: str,
                       train: Callable[..., dict]) -> None:
    """Open Pipes, validate `extras[config_key]` as `config_type`, hold `extras["out_dir"]` (refused while a live
    earlier run writes there), log the run's parameters under `param_prefix`, and report the metadata that
    `train(pipes, extras, config, out_dir, tracker, sink)` returns as the materialisation of `asset`."""
    from dagster_pipes import open_dagster_pipes

    from slm_assets.processes import folder_lock
    from slm_assets.train.pipes_logging import pipes_training_logger

    logging.basicConfig(level=logging.INFO)
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = config_type.model_validate(extras[config_key])
        out_dir = Path(extras["out_dir"])
        with folder_lock(out_dir, f"{asset} training"):
            tracker, sink = pipes_training_logger(pipes, extras, param_prefix, config)
            pipes.report_asset_materialization(metadata=train(pipes, extras, config, out_dir, tracker, sink))


def save_training_outputs(summary, out_dir: Path, tracker, plot_title: str,
                          plot_keys: tuple[str, ...] = TRAIN_AND_EVAL_LOSS) -> None:
    """loss_curve.png and summary.json in `out_dir`; the adapter folder and the plot logged to MLflow."""
    plot = loss_curve(summary.history, out_dir / "loss_curve.png", plot_title, keys=plot_keys)
    write_text_atomically(out_dir / "summary.json", json.dumps(asdict(summary), indent=2))
    tracker.artifacts(Path(summary.adapter_dir), "adapter")
    tracker.artifacts(plot)
