"""Entry point of the `distilled_model` process, launched through Dagster Pipes."""

import json
import logging
from dataclasses import asdict
from pathlib import Path


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    from slm_assets.processes import folder_lock
    from slm_assets.storage import write_text_atomically
    from slm_assets.train.config import DistillConfig
    from slm_assets.train.distill import distill
    from slm_assets.train.pipes_logging import pipes_training_logger
    from slm_assets.train.plots import loss_curve

    logging.basicConfig(level=logging.INFO)
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = DistillConfig.model_validate(extras["distill_config"])
        out_dir = Path(extras["out_dir"])
        with folder_lock(out_dir, "distilled_model training"):  # refuses while a live earlier run writes here
            tracker, sink = pipes_training_logger(pipes, extras, "distill", config)

            summary = distill(extras["base_model"], Path(extras["cache_dir"]), Path(extras["dataset_dir"]),
                              Path(extras["lora_adapter_dir"]), out_dir, config, sink=sink)
            plot = loss_curve(summary.history, out_dir / "loss_curve.png", "distilled_model: loss terms",
                              keys=("loss", "ce", "kl_teacher", "kl_base"))
            write_text_atomically(out_dir / "summary.json", json.dumps(asdict(summary), indent=2))
            tracker.artifacts(Path(summary.adapter_dir), "adapter")
            tracker.artifacts(plot)
            flat = {f"{model}.{k}": v for model, scores in summary.evaluation.items() for k, v in scores.items()}
            tracker.metrics(summary.steps, flat)
            pipes.report_asset_materialization(metadata={
                "adapter_dir": {"raw_value": summary.adapter_dir, "type": "path"},
                "teacher": summary.teacher,
                "student_init": summary.student_init,
                "steps": summary.steps,
                "loss_first": summary.loss_first,
                "loss_last": summary.loss_last,
                "wall_s": round(summary.wall_s, 1),
                "device": summary.device,
                **{k: round(v, 4) for k, v in flat.items()},
            })


if __name__ == "__main__":
    main()
