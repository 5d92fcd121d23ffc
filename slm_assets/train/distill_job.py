"""Entry point of the `distilled_model` process, launched through Dagster Pipes."""

from pathlib import Path

from slm_assets.train.pipes_child import run_training_child, save_training_outputs


def main() -> None:
    from slm_assets.train.config import DistillConfig

    run_training_child(DistillConfig, "distill_config", "distilled_model", "distill", distill_and_describe)


def distill_and_describe(pipes, extras: dict, config, out_dir: Path, tracker, sink) -> dict:
    """Distil into `out_dir`, save and log its outputs; the materialisation metadata."""
    from slm_assets.train.distill import distill

    summary = distill(extras["base_model"], Path(extras["cache_dir"]), Path(extras["dataset_dir"]),
                      Path(extras["lora_adapter_dir"]), out_dir, config, sink=sink)
    save_training_outputs(summary, out_dir, tracker, "distilled_model: loss terms",
                          plot_keys=("loss", "ce", "kl_teacher", "kl_base"))
    flat = {f"{model}.{k}": v for model, scores in summary.evaluation.items() for k, v in scores.items()}
    tracker.metrics(summary.steps, flat)
    return {
        "adapter_dir": {"raw_value": summary.adapter_dir, "type": "path"},
        "teacher": summary.teacher,
        "student_init": summary.student_init,
        "steps": summary.steps,
        "loss_first": summary.loss_first,
        "loss_last": summary.loss_last,
        "wall_s": round(summary.wall_s, 1),
        "device": summary.device,
        **{k: round(v, 4) for k, v in flat.items()},
    }


if __name__ == "__main__":
    main()
