"""Entry point of the `lora_adapter` training process, launched through Dagster Pipes.

Runs in its own process so CUDA memory is freed when it exits; reports per-step losses to
MLflow and the Dagster log as it goes, and the summary as materialisation metadata.
"""

import json
import logging
from dataclasses import asdict
from pathlib import Path


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    from slm_assets.train.config import TrainConfig
    from slm_assets.train.lora import train_lora
    from slm_assets.train.plots import loss_curve
    from slm_assets.train.tracking import pipes_training_logger

    logging.basicConfig(level=logging.INFO)
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = TrainConfig.model_validate(extras["train_config"])
        out_dir = Path(extras["out_dir"])
        tracker, sink = pipes_training_logger(pipes, extras, "train", config)

        summary = train_lora(extras["base_model"], Path(extras["cache_dir"]), Path(extras["dataset_dir"]),
                             out_dir, config, sink=sink)
        plot = loss_curve(summary.history, out_dir / "loss_curve.png", "lora_adapter: train and validation loss")
        (out_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
        tracker.artifacts(Path(summary.adapter_dir), "adapter")
        tracker.artifacts(plot)
        tracker.artifacts(out_dir / "summary.json")
        tracker.metrics(summary.steps, {"tokens_per_s_total": summary.tokens_per_s,
                                        "peak_memory_mb": summary.peak_memory_mb})
        pipes.report_asset_materialization(metadata={
            "adapter_dir": {"raw_value": summary.adapter_dir, "type": "path"},
            "steps": summary.steps,
            "train_examples": summary.train_examples,
            "train_loss_first": summary.train_loss_first,
            "train_loss_last": summary.train_loss_last,
            "eval_loss_before": summary.eval_loss_first,
            "eval_loss_best": summary.eval_loss_last,
            "tokens_per_s": round(summary.tokens_per_s, 1),
            "peak_memory_mb": round(summary.peak_memory_mb, 1),
            "wall_s": round(summary.wall_s, 1),
            "device": summary.device,
            "resumed_from": summary.resumed_from or "",
            "backend": summary.backend,
        })


if __name__ == "__main__":
    main()
