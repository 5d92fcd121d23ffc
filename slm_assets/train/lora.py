"""LoRA / QLoRA fine-tuning with TRL's SFTTrainer on prompt/completion chat data.

Resumes from the newest checkpoint in `out_dir/checkpoints` only after an interrupted run on the same examples and
settings (`slm_assets.train.checkpoints`); any other run starts at step 0. The model is loaded and wrapped
either by transformers + PEFT or, on CUDA with the package installed, by Unsloth (`TrainConfig.backend`).
"""

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.models import load_tokenizer, pick_device, resolve_model
from slm_assets.storage import replaced_atomically
from slm_assets.train.config import LoraConfig, TrainConfig
from slm_assets.train.sft_data import read_split

log = logging.getLogger(__name__)
TRAIN_COLUMNS = ["prompt", "completion"]


@dataclass
class TrainSummary:
    adapter_dir: str
    steps: int
    train_loss_first: float | None
    train_loss_last: float | None
    eval_loss_first: float | None
    eval_loss_last: float | None
    train_examples: int
    val_examples: int
    tokens_seen: int
    wall_s: float
    tokens_per_s: float
    peak_memory_mb: float
    device: str
    resumed_from: str | None
    backend: str = "transformers"
    history: list[dict] = field(default_factory=list)


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class BackendUnavailable(RuntimeError):
    """The configured training backend cannot run here."""


def choose_backend(requested: str, device: str, lora: LoraConfig) -> str:
    """`auto` takes Unsloth only where it can run (CUDA, package installed, no DoRA); an explicit `unsloth`
    that cannot run is an error rather than a silent fallback."""
    if requested == "transformers":
        return "transformers"
    problems = [reason for reason, present in (
        ("the unsloth package is not installed", not installed("unsloth")),
        (f"Unsloth needs CUDA and this run is on {device}", device != "cuda"),
        ("DoRA (lora.use_dora) is not offered through Unsloth here", lora.use_dora),
    ) if present]
    if not problems:
        return "unsloth"
    if requested == "unsloth":
        raise BackendUnavailable(f"train.backend is unsloth but {'; '.join(problems)}. "
                                 "Use backend: auto or transformers.")
    log.info("training backend: transformers (unsloth not used: %s)", "; ".join(problems))
    return "transformers"


def use_packing(requested: str, device: str) -> bool:
    """Packing is padding-free in TRL, which is only correct with FlashAttention kernels."""
    available = device == "cuda" and installed("flash_attn")
    if requested == "on" and not available:
        raise BackendUnavailable(f"train.packing is on but padding-free packing needs CUDA and the flash_attn "
                                 f"package (device: {device}). Use packing: auto or off.")
    return requested == "on" or (requested == "auto" and available)


def linear_module_names(model) -> list[str]:
    """Names of the linear layers under the decoder blocks (what PEFT's `all-linear` selects), for backends
    that want an explicit list."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")}
    return sorted(names)


def load_with_unsloth(reference: str, cache_dir: Path, config: TrainConfig):
    """Unsloth's loader and LoRA wrapper with the same adapter settings; returns (peft model, tokenizer)."""
    from unsloth import FastLanguageModel  # train_lora imports unsloth before transformers and TRL

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=resolve_model(reference, cache_dir), max_seq_length=config.max_length, dtype=None,
        load_in_4bit=config.lora.qlora,
    )
    targets = config.lora.target_modules
    if targets == "all-linear":
        targets = linear_module_names(model)
    model = FastLanguageModel.get_peft_model(
        model, r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
        target_modules=targets, bias="none",
        use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False,
        random_state=config.seed,
    )
    return model, tokenizer


def peft_lora_config(config: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(
        r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=config.target_modules, use_dora=config.use_dora, task_type="CAUSAL_LM",
    )


def load_base_for_training(reference: str, cache_dir: Path, config: LoraConfig, device: str,
                           flash_attention: bool = False):
    """fp32 on CPU, bf16 on CUDA; 4-bit NF4 through bitsandbytes when QLoRA is on."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs = {"dtype": torch.bfloat16 if device == "cuda" else torch.float32}
    if flash_attention:
        kwargs["attn_implementation"] = "flash_attention_2"
    if config.qlora:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    model = AutoModelForCausalLM.from_pretrained(resolve_model(reference, cache_dir), **kwargs)
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model.to(device) if not config.qlora else model


def sft_arguments(config: TrainConfig, device: str, output_dir: Path, packing: bool = False, **overrides):
    """TRL SFTConfig for our training settings (the benchmark reuses it, overriding evaluation and saving)."""
    from trl import SFTConfig

    arguments = {
        "output_dir": str(output_dir),
        "max_steps": config.max_steps,
        # a batch of per_device_batch_size rows, accumulated from micro-batches (activations scale with these)
        "per_device_train_batch_size": config.rows_per_pass,
        "per_device_eval_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps * (
            config.per_device_batch_size // config.rows_per_pass),
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": "cosine",
        "warmup_steps": int(config.warmup_ratio * config.max_steps),
        "logging_steps": 1,
        "eval_strategy": "steps",
        "prediction_loss_only": True,  # otherwise (B, T, V) eval logits are gathered: GBs and minutes on CPU
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.eval_steps,
        "save_total_limit": 2,
        "load_best_model_at_end": True,
        "metric_for_best_model": "eval_loss",
        "greater_is_better": False,
        "max_length": config.max_length,
        "completion_only_loss": True,
        "packing": packing,
        "packing_strategy": "bfd",  # padding-free
        # without packing, batches of similar length: less padding to pay for
        "train_sampling_strategy": "random" if packing else "group_by_length",
        "use_cpu": device != "cuda",
        "bf16": device == "cuda",
        "gradient_checkpointing": config.gradient_checkpointing,
        "include_num_input_tokens_seen": "non_padding",
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": "none",
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }
    return SFTConfig(**{**arguments, **overrides})


def sft_trainer_class(backend: str):
    """TRL's SFTTrainer, with the completion-only sliced loss (logits only where labels are) for the transformers
    backend; Unsloth keeps the trainer it patches, with its own fused loss."""
    if backend == "unsloth":
        from trl import SFTTrainer

        return SFTTrainer
    from slm_assets.train.completion_loss import CompletionSFTTrainer

    return CompletionSFTTrainer


def train_lora(
    base_model: str,
    cache_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    sink: Callable[[int, dict], None] | None = None,
) -> TrainSummary:
    device = pick_device()
    backend = choose_backend(config.backend, device, config.lora)
    packing = use_packing(config.packing, device)
    if backend == "unsloth":
        import unsloth  # noqa: F401  (before transformers and TRL, whose classes it patches)
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    from slm_assets.train.checkpoints import (
        mark_finished,
        record_eval_before,
        recorded_eval_before,
        resume_point,
        run_identity,
    )
    from slm_assets.train.metrics_callback import MetricsCallback, peak_memory_mb

    train_rows, val_rows = training_rows(dataset_dir, config)

    from slm_assets.train.memory import ensure_fits, estimate_training_memory

    estimate = estimate_training_memory(
        resolve_model(base_model, cache_dir), device, config.lora.qlora, config.lora.r,
        config.rows_per_pass, config.max_length, config.gradient_checkpointing,
    )
    ensure_fits(estimate, base_model)  # refuse before loading gigabytes
    log.info("memory estimate %.2f GiB of %.1f GiB available", estimate.total_gb, estimate.available_gb)
    if backend == "unsloth":
        model, _ = load_with_unsloth(base_model, cache_dir, config)
        tokenizer = load_tokenizer(base_model, cache_dir)
        peft_config = None  # the model is already wrapped
    else:
        tokenizer = load_tokenizer(base_model, cache_dir)
        model = load_base_for_training(base_model, cache_dir, config.lora, device, flash_attention=packing)
        peft_config = peft_lora_config(config.lora)
    checkpoints = out_dir / "checkpoints"
    if not packing:  # without packing TRL drops the rows whose prompt fills max_length
        val_rows = rows_with_room_for_an_answer(tokenizer, val_rows, config.max_length, f"{dataset_dir}/val")
    validate = bool(val_rows)
    args = sft_arguments(config, device, checkpoints, packing=packing, **({} if validate else NO_VALIDATION))
    metrics = MetricsCallback(sink or (lambda step, m: None))
    trainer = sft_trainer_class(backend)(
        model=model, args=args, processing_class=tokenizer, peft_config=peft_config,
        train_dataset=Dataset.from_list([{k: r[k] for k in TRAIN_COLUMNS} for r in train_rows]),
        eval_dataset=Dataset.from_list([{k: r[k] for k in TRAIN_COLUMNS} for r in val_rows]) if validate else None,
        callbacks=[metrics, *([EarlyStoppingCallback(early_stopping_patience=3)] if validate else [])],
    )
    identity = run_identity({"train": train_rows, "val": val_rows}, {"base_model": base_model, **config.model_dump()})
    resume = resume_point(checkpoints, identity)
    if resume:
        log.info("resuming from %s", resume)
        eval_before = recorded_eval_before(checkpoints)
    else:  # the starting point of the validation curve (logged at step 0 by the callback)
        eval_before = trainer.evaluate().get("eval_loss") if validate else None
        record_eval_before(checkpoints, eval_before)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - started
    adapter_dir = out_dir / "adapter"
    with replaced_atomically(adapter_dir) as staging:  # the previous adapter stays whole until this one is
        trainer.save_model(str(staging))
        tokenizer.save_pretrained(str(staging))
    mark_finished(checkpoints, identity)

    tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
    return TrainSummary(
        adapter_dir=str(adapter_dir), steps=trainer.state.global_step,
        **loss_ends(metrics.history, trainer.state.log_history, eval_before),
        train_examples=len(train_rows), val_examples=len(val_rows), tokens_seen=tokens, wall_s=wall,
        tokens_per_s=tokens / wall if wall else 0.0, peak_memory_mb=peak_memory_mb(), device=device,
        resumed_from=resume, backend=backend, history=metrics.history,
    )


NO_VALIDATION = {"eval_strategy": "no", "load_best_model_at_end": False, "metric_for_best_model": None}


def rows_with_room_for_an_answer(tokenizer, rows: list[dict], max_length: int, name: str) -> list[dict]:
    """The rows whose prompt, under the chat template, leaves room for an answer token within max_length. TRL cuts
    an example from its end and then drops those whose answer was cut away whole; a validation split made only of
    such rows (a small domain whose val documents have long passages) would stop training in its first
    evaluation, so training runs without validation then, with a warning that names the split."""
    from slm_assets.generation import chat_prompt_ids

    lengths = [len(ids) for ids in chat_prompt_ids(tokenizer, [row["prompt"] for row in rows])]
    kept = [row for row, length in zip(rows, lengths, strict=True) if length < max_length]
    if len(kept) < len(rows):
        log.warning("%s: %d of %d examples have prompts of max_length (%d tokens) or more and carry no loss%s",
                    name, len(rows) - len(kept), len(rows), max_length,
                    "" if kept else "; training runs without validation")
    return kept


def training_rows(dataset_dir: Path, config: TrainConfig) -> tuple[list[dict], list[dict]]:
    """The train and validation rows, cut to the configured sizes; an empty split is an error naming the folder."""
    train_rows = read_split(dataset_dir, "train")
    if config.max_train_examples:
        train_rows = train_rows[: config.max_train_examples]
    val_rows = read_split(dataset_dir, "val")[: config.max_val_examples]
    if not train_rows or not val_rows:
        raise ValueError(f"{dataset_dir}: empty train ({len(train_rows)}) or val ({len(val_rows)}) split")
    return train_rows, val_rows


def loss_ends(history: list[dict], trainer_log: list[dict], eval_before: float | None) -> dict[str, float | None]:
    """First and last training loss, and the validation loss before training and at its best.

    The validation curve is step 0, then every evaluation in training: after a resume the Trainer's log holds the
    killed run's evaluations too (restored from the checkpoint); the evaluation before training is kept beside the
    checkpoints."""
    train_losses = [h["loss"] for h in history if "loss" in h]
    eval_losses = [*([eval_before] if eval_before is not None else []),
                   *(h["eval_loss"] for h in trainer_log if "eval_loss" in h)]
    return {
        "train_loss_first": train_losses[0] if train_losses else None,
        "train_loss_last": train_losses[-1] if train_losses else None,
        "eval_loss_first": eval_losses[0] if eval_losses else None,
        "eval_loss_last": min(eval_losses) if eval_losses else None,
    }
