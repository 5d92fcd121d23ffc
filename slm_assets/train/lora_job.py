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

    from slm_assets.processes import folder_lock
    from slm_assets.storage import write_text_atomically
    from slm_assets.train.config import TrainConfig
    from slm_assets.train.lora import train_lora
    from slm_assets.train.pipes_logging import pipes_training_logger
    from slm_assets.train.plots import loss_curve

    logging.basicConfig(level=logging.INFO)
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = TrainConfig.model_validate(extras["train_config"])
        out_dir = Path(extras["out_dir"])
        with folder_lock(out_dir, "lora_adapter training"):  # refuses while a live earlier run writes here
            tracker, sink = pipes_training_logger(pipes, extras, "train", config)

            summary = train_lora(extras["base_model"], Path(extras["cache_dir"]), Path(extras["dataset_dir"]),
                                 out_dir, config, sink=sink)
            preference = run_dpo_phase(extras, config, out_dir, summary, pipes) if config.dpo.enabled else {}
            plot = loss_curve(summary.history, out_dir / "loss_curve.png", "lora_adapter: train and validation loss")
            write_text_atomically(out_dir / "summary.json", json.dumps(asdict(summary), indent=2))
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
                **preference,
            })


def run_dpo_phase(extras: dict, config, out_dir: Path, summary, pipes) -> dict:
    """DPO on top of the SFT adapter (kept as adapter_sft); the adapter folder then holds the DPO result."""
    import shutil

    from slm_assets.train.dpo import train_dpo
    from slm_assets.train.sft_data import read_split

    sft_dir = out_dir / "adapter_sft"
    shutil.rmtree(sft_dir, ignore_errors=True)
    shutil.copytree(summary.adapter_dir, sft_dir)
    result = train_dpo(extras["base_model"], Path(extras["cache_dir"]), read_split(Path(extras["dataset_dir"]), "train"),
                       sft_dir, out_dir, config)
    pipes.log.info(f"DPO: {result.pairs} pairs {result.rejected_by_reason}, {result.steps} steps, "
                   f"loss {result.loss_first} -> {result.loss_last}")
    return {"dpo_pairs": result.pairs, "dpo_steps": result.steps,
            "dpo_rejected_by_reason": {"raw_value": result.rejected_by_reason, "type": "json"},
            "dpo_loss_first": result.loss_first, "dpo_loss_last": result.loss_last,
            "dpo_reward_margin_last": result.reward_margin_last, "dpo_wall_s": round(result.wall_s, 1)}


if __name__ == "__main__":
    main()
