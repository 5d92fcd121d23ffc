"""Preference tuning after SFT: DPO (TRL's DPOTrainer) against the model's own bad answers.

The SFT model answers a seeded sample of train prompts greedily. An answer is *rejected* when it restates the
question, is not supported by its passages (open book) or its reference (closed book), abstains on an answerable
question, or answers one whose passages do not hold the answer; the grounded reference is *chosen*. Those pairs
train the SFT adapter further, with the SFT model (adapter merged, frozen) as the DPO reference.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.storage import replaced_atomically
from slm_assets.text import is_abstention, is_echo, support_score
from slm_assets.train.config import DpoConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class DpoSummary:
    adapter_dir: str
    pairs: int
    candidates: int  # prompts answered by the SFT model
    rejected_by_reason: dict[str, int]
    steps: int
    loss_first: float | None
    loss_last: float | None
    reward_margin_last: float | None
    wall_s: float
    history: list[dict] = field(default_factory=list)


def rejection_reason(example: dict, answer: str, min_support: float) -> str | None:
    """Why the SFT model's own answer to a train example is a bad one (None: it is acceptable)."""
    question, reference = example["question"], example["completion"][0]["content"]
    if example.get("mode") == "unanswerable":
        return None if is_abstention(answer) else "answered_unanswerable"
    if is_abstention(answer):
        return "abstained_on_answerable"
    if is_echo(question, answer):
        return "echo"
    source = example["prompt"][-1]["content"] if example.get("mode") == "open_book" else reference
    if support_score(answer, source) < min_support:
        return "unsupported"
    return None


def preference_pairs(examples: list[dict], answers: list[str], config: DpoConfig) -> tuple[list[dict], dict]:
    """TRL conversational preference rows {prompt, chosen, rejected} and the count per rejection reason."""
    pairs, reasons = [], {}
    for example, answer in zip(examples, answers, strict=True):
        reason = rejection_reason(example, answer, config.min_support)
        if reason is None or not answer.strip():
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
        pairs.append({"prompt": example["prompt"], "chosen": example["completion"],
                      "rejected": [{"role": "assistant", "content": answer}]})
    return pairs, reasons


def dpo_arguments(config: DpoConfig, train: TrainConfig, device: str, output_dir: Path):
    from trl import DPOConfig

    return DPOConfig(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.per_device_batch_size,
        learning_rate=config.learning_rate, beta=config.beta, max_length=train.max_length, lr_scheduler_type="cosine",
        logging_steps=1, save_strategy="no", eval_strategy="no", use_cpu=device != "cuda", bf16=device == "cuda",
        seed=config.seed, data_seed=config.seed, report_to="none", dataloader_num_workers=0, disable_tqdm=True)


def train_dpo(base_model: str, cache_dir: Path, train_rows: list[dict], sft_adapter: Path, out_dir: Path,
              train: TrainConfig, sink: Callable[[int, dict], None] | None = None) -> DpoSummary:
    """Generate candidates with the SFT model, build pairs, run DPO, save the adapter to out_dir/adapter."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOTrainer

    from slm_assets.generation import generate_answers
    from slm_assets.models import load_tokenizer, pick_device
    from slm_assets.train.lora import load_base_for_training
    from slm_assets.train.metrics_callback import MetricsCallback

    config, device = train.dpo, pick_device()
    started = time.perf_counter()
    tokenizer = load_tokenizer(base_model, cache_dir)
    policy = PeftModel.from_pretrained(load_base_for_training(base_model, cache_dir, train.lora, device),
                                       str(sft_adapter), is_trainable=True)
    sample = random.Random(config.seed).sample(train_rows, min(config.max_prompts, len(train_rows)))
    policy.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        answers = [g.text for g in generate_answers(policy, tokenizer, [r["prompt"] for r in sample],
                                                    config.max_new_tokens, train.per_device_batch_size)]
    pairs, reasons = preference_pairs(sample, answers, config)
    log.info("DPO: %d preference pairs from %d SFT answers (%s)", len(pairs), len(sample), reasons)
    adapter_dir = out_dir / "adapter"
    if len(pairs) < config.per_device_batch_size:
        log.info("DPO skipped: too few bad answers to learn from; the SFT adapter stands")
        return DpoSummary(str(sft_adapter), len(pairs), len(sample), reasons, 0, None, None, None,
                          time.perf_counter() - started)
    reference = PeftModel.from_pretrained(load_base_for_training(base_model, cache_dir, train.lora, device),
                                          str(sft_adapter)).merge_and_unload().eval()
    metrics = MetricsCallback(sink or (lambda step, m: None))
    trainer = DPOTrainer(model=policy, ref_model=reference, args=dpo_arguments(config, train, device, out_dir / "run"),
                         train_dataset=Dataset.from_list(pairs), processing_class=tokenizer, callbacks=[metrics])
    trainer.train()
    with replaced_atomically(adapter_dir) as staging:  # the SFT adapter stays whole until this one is
        trainer.save_model(str(staging))
        tokenizer.save_pretrained(str(staging))
    losses = [h["loss"] for h in metrics.history if "loss" in h]
    margins = [h["rewards/margins"] for h in metrics.history if "rewards/margins" in h]
    return DpoSummary(str(adapter_dir), len(pairs), len(sample), reasons, trainer.state.global_step,
                      losses[0] if losses else None, losses[-1] if losses else None,
                      margins[-1] if margins else None, time.perf_counter() - started, metrics.history)
