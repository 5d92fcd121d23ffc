"""Knowledge distillation that keeps general ability.

Student = base model + a LoRA adapter: by default it starts from the `lora_adapter` weights (so it begins with
the domain knowledge already learned and distillation pulls its general behaviour back towards the base), or
from a fresh adapter (`student_init: fresh`). Per step:
  loss = ce_weight * CE(student, domain answer)
       + teacher_kl_weight * T^2 * KL(teacher || student) on domain answer tokens
       + base_kl_weight * T^2 * KL(frozen base || student) on general-instruction replay tokens
The frozen base is the student with its adapter switched off, so it costs no extra memory.
An API teacher without logprobs (Groq) can only distil at sequence level, through the synthetic
QA data itself; token-level KL needs a local same-tokenizer teacher.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from slm_assets.batching import length_grouped_batches
from slm_assets.losses import answer_logits, answer_loss, completion_rows, encode_chat, pad_batch
from slm_assets.models import load_causal_lm, load_tokenizer, load_tuned_model, pick_device
from slm_assets.storage import replaced_atomically
from slm_assets.train.config import DistillConfig
from slm_assets.train.lora import peft_lora_config
from slm_assets.train.sft_data import read_split

log = logging.getLogger(__name__)
GENERAL_SYSTEM = "You are a helpful assistant."
GENERAL_ROWS_PER_STEP = 4  # general-replay rows per step (fewer when the domain batch is smaller)


@dataclass
class DistillSummary:
    adapter_dir: str
    steps: int
    wall_s: float
    loss_first: float
    loss_last: float
    device: str
    teacher: str
    student_init: str
    # per model: domain validation CE and general-set perplexity
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def general_replay() -> list[dict]:
    """The team-written general instruction set (train part and held-out part)."""
    text = resources.files("slm_assets.train").joinpath("general_replay.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def general_examples(tokenizer, rows: list[dict], max_length: int):
    prompt = lambda r: [{"role": "system", "content": GENERAL_SYSTEM}, {"role": "user", "content": r["instruction"]}]  # noqa: E731
    return [encode_chat(tokenizer, prompt(r), r["response"], max_length) for r in rows]


def domain_examples(tokenizer, rows: list[dict], max_length: int):
    return [encode_chat(tokenizer, r["prompt"], r["completion"][0]["content"], max_length) for r in rows]


def rows_kl(teacher_rows, student_rows, temperature: float):
    """Mean over rows of KL(teacher || student) at a temperature; logits (N, V) at answer positions only."""
    import torch.nn.functional as F

    if teacher_rows.size(0) == 0:
        return student_rows.sum() * 0.0
    t = teacher_rows / temperature
    s = student_rows / temperature
    kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
    return kl * temperature**2


def masked_kl(teacher_logits, student_logits, labels, temperature: float):
    """`rows_kl` over the answer positions of full logits (B, T, V); labels (B, T)."""
    return rows_kl(completion_rows(teacher_logits, labels)[0], completion_rows(student_logits, labels)[0], temperature)


def masked_ce(logits, labels):
    """Mean CE over answer positions of full logits (B, T, V)."""
    import torch.nn.functional as F

    return F.cross_entropy(*completion_rows(logits, labels))


def load_teacher_and_student(base_model: str, cache_dir: Path, lora_adapter_dir: Path, config: DistillConfig,
                             tokenizer, device: str):
    """(teacher, its name, student): the teacher in eval mode, the student a trainable LoRA on base."""
    import torch
    from peft import get_peft_model

    if config.teacher_model:
        teacher_name = config.teacher_model
        teacher = load_causal_lm(config.teacher_model, cache_dir, device, dtype="auto")  # the checkpoint's dtype
    else:
        teacher_name = f"lora_adapter merged ({lora_adapter_dir})"
        teacher = load_tuned_model(base_model, cache_dir, lora_adapter_dir, device)
    if teacher.config.vocab_size != len(tokenizer) and teacher.config.vocab_size < len(tokenizer):
        raise ValueError(f"teacher {teacher_name} vocabulary ({teacher.config.vocab_size}) does not cover the student's")
    base = load_causal_lm(base_model, cache_dir, "cpu", dtype=torch.float32)  # moved to `device` with its adapter
    if config.student_init == "lora_adapter":
        from peft import PeftModel

        student = PeftModel.from_pretrained(base, str(lora_adapter_dir), is_trainable=True).to(device)
    else:
        student = get_peft_model(base, peft_lora_config(config.lora)).to(device)
    return teacher, teacher_name, student


def distill_loss(student, teacher, domain_batch, general_batch, config: DistillConfig):
    """(loss, ce, kl to the teacher, kl to base) of one step; batches are (input_ids, mask, labels), (B, T) each."""
    import torch
    import torch.nn.functional as F

    ids, mask, labels = domain_batch
    # logits only at answer positions (N, V): prompt and padding rows never reach the head
    student_rows, targets = answer_logits(student, ids, mask, labels)
    with torch.no_grad():
        teacher_rows, _ = answer_logits(teacher, ids, mask, labels)
    ce = F.cross_entropy(student_rows, targets)
    kl_teacher = rows_kl(teacher_rows, student_rows, config.temperature)

    g_ids, g_mask, g_labels = general_batch
    with torch.no_grad(), student.disable_adapter():
        base_rows, _ = answer_logits(student, g_ids, g_mask, g_labels)
    kl_base = rows_kl(base_rows, answer_logits(student, g_ids, g_mask, g_labels)[0], config.temperature)
    loss = config.ce_weight * ce + config.teacher_kl_weight * kl_teacher + config.base_kl_weight * kl_base
    return loss, ce, kl_teacher, kl_base


def train_student(student, teacher, domain_train, general_train, pad_id: int, device: str, config: DistillConfig,
                  sink: Callable[[int, dict], None] | None) -> list[dict]:
    """`config.max_steps` optimizer steps; one record per step (losses and learning rate)."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=config.learning_rate)
    scheduler = get_cosine_schedule_with_warmup(optimizer, max(1, config.max_steps // 20), config.max_steps)
    rng = random.Random(config.seed)
    # batches of similar length: random batches of the demo's mixed open- and closed-book rows were 69% padding
    domain_batches = length_grouped_batches([len(ids) for ids, _ in domain_train],
                                            min(config.per_device_batch_size, len(domain_train)), rng)
    history: list[dict] = []
    student.train()
    for step in range(1, config.max_steps + 1):
        domain_batch = tuple(t.to(device) for t in pad_batch([domain_train[i] for i in next(domain_batches)], pad_id))
        general_batch = tuple(t.to(device) for t in pad_batch(
            rng.sample(general_train, min(config.per_device_batch_size, GENERAL_ROWS_PER_STEP, len(general_train))),
            pad_id))
        loss, ce, kl_teacher, kl_base = distill_loss(student, teacher, domain_batch, general_batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        record = {"step": step, "loss": float(loss.detach()), "ce": float(ce.detach()),
                  "kl_teacher": float(kl_teacher.detach()), "kl_base": float(kl_base.detach()),
                  "learning_rate": scheduler.get_last_lr()[0]}
        history.append(record)
        if sink:
            sink(step, {k: v for k, v in record.items() if k != "step"})
    return history


def distill(
    base_model: str,
    cache_dir: Path,
    dataset_dir: Path,
    lora_adapter_dir: Path,
    out_dir: Path,
    config: DistillConfig,
    sink: Callable[[int, dict], None] | None = None,
) -> DistillSummary:
    import math

    import torch

    torch.manual_seed(config.seed)
    device = pick_device()
    tokenizer = load_tokenizer(base_model, cache_dir)
    pad_id = tokenizer.pad_token_id
    teacher, teacher_name, student = load_teacher_and_student(base_model, cache_dir, lora_adapter_dir, config,
                                                              tokenizer, device)
    train_rows, val_rows = read_split(dataset_dir, "train"), read_split(dataset_dir, "val")[: config.max_val_examples]
    domain_train = domain_examples(tokenizer, train_rows, config.max_length)
    domain_val = domain_examples(tokenizer, val_rows, config.max_length)
    replay = general_replay()
    general_train = general_examples(tokenizer, replay[:28], config.max_length)
    general_eval = general_examples(tokenizer, replay[28:], config.max_length)

    started = time.perf_counter()
    history = train_student(student, teacher, domain_train, general_train, pad_id, device, config, sink)
    wall = time.perf_counter() - started

    adapter_dir = out_dir / "adapter"
    with replaced_atomically(adapter_dir) as staging:  # the previous adapter stays whole until this one is
        student.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))

    evaluation = {}
    with student.disable_adapter():
        evaluation["base"] = _scores(student, domain_val, general_eval, pad_id, device)
    evaluation["lora_adapter"] = _scores(teacher, domain_val, general_eval, pad_id, device) if not config.teacher_model else {}
    evaluation["distilled_model"] = _scores(student, domain_val, general_eval, pad_id, device)
    for scores in evaluation.values():
        if scores:
            scores["general_perplexity"] = math.exp(scores["general_loss"])
    return DistillSummary(
        adapter_dir=str(adapter_dir), steps=config.max_steps, wall_s=wall, loss_first=history[0]["loss"],
        loss_last=history[-1]["loss"], device=device, teacher=teacher_name, student_init=config.student_init, evaluation=evaluation, history=history,
    )


def _scores(model, domain_val, general_eval, pad_id, device) -> dict[str, float]:
    return {
        "domain_loss": answer_loss(model, domain_val, pad_id, device),
        "general_loss": answer_loss(model, general_eval, pad_id, device),
    }
