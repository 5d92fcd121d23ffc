"""Entry point of the `lora_adapter` training process, launched through Dagster Pipes.

Runs in its own process so CUDA memory is freed when it exits; reports per-step losses to
MLflow and the Dagster log as it goes, and the summary as materialisation metadata.
"""

from pathlib import Path

from slm_assets.train.pipes_child import run_training_child, save_training_outputs


def main() -> None:
    from slm_assets.train.config import TrainConfig

    run_training_child(TrainConfig, "train_config", "lora_adapter", "train", train_and_describe)


def train_and_describe(pipes, extras: dict, config, out_dir: Path, tracker, sink) -> dict:
    """Train the adapter into `out_dir` (then DPO when enabled), save and log its outputs; the materialisation
    metadata."""
    from slm_assets.train.lora import train_lora

    summary = train_lora(extras["base_model"], Path(extras["cache_dir"]), Path(extras["dataset_dir"]),
                         out_dir, config, sink=sink)
    preference = run_dpo_phase(extras, config, out_dir, summary, pipes) if config.dpo.enabled else {}
    save_training_outputs(summary, out_dir, tracker, "lora_adapter: train and validation loss")
    tracker.artifacts(out_dir / "summary.json")
    tracker.metrics(summary.steps, {"tokens_per_s_total": summary.tokens_per_s,
                                    "peak_memory_mb": summary.peak_memory_mb})
    return {
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
    }


def validation_loss_fell(metadata: dict) -> tuple[bool, str]:
    """Whether the best validation loss in `metadata` (what train_and_describe reported, values or Dagster
    metadata values) is below the loss before training, and the two losses as a sentence."""
    values = {key: getattr(value, "value", value) for key, value in metadata.items()}
    before, best = values.get("eval_loss_before"), values.get("eval_loss_best")
    return before is not None and best is not None and best < before, f"validation loss {before} -> {best}"


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
