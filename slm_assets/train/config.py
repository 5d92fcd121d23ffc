"""Fine-tuning and distillation settings, with named presets.

`smoke` is for tests (seconds), `demo` for the CPU demo (minutes), `full` for a GPU. A preset is the only source
of the values it sets: those fields have no class default, and a domain's own values go on top of the preset.
"""

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, model_validator

Preset = Literal["smoke", "demo", "full"]
DEFAULT_PRESET: Preset = "demo"

PRESETS: dict[str, dict] = {
    "smoke": {"max_steps": 6, "per_device_batch_size": 4, "max_length": 128, "eval_steps": 3, "max_val_examples": 8},
    # demo: 288 tokens hold two passage windows, the question and the answer; batches of 8 in micro-batches of 2
    # are faster and smaller than whole batches on 2 CPU cores (figures: TrainConfig.micro_batch_size)
    "demo": {"max_steps": 40, "per_device_batch_size": 8, "micro_batch_size": 2, "max_length": 288, "eval_steps": 20,
             "max_val_examples": 32},
    "full": {"max_steps": 2000, "per_device_batch_size": 16, "max_length": 1024, "eval_steps": 100,
             "learning_rate": 2e-4, "max_val_examples": 512},
}

# distillation follows the domain's `train.preset`
DISTILL_PRESETS: dict[str, dict] = {
    # smoke: each step is four passes of the 135M model (student and teacher on domain rows, student with and
    # without its adapter on general rows), ~30 s at 4 x 128 on 2 busy cores: two steps of two rows show the stage
    "smoke": {"max_steps": 2, "per_device_batch_size": 2, "max_length": 128, "max_val_examples": 4},
    "demo": {"max_steps": 16, "per_device_batch_size": 8, "max_length": 288, "max_val_examples": 32},
    "full": {"max_steps": 1000, "per_device_batch_size": 16, "max_length": 1024, "learning_rate": 2e-4},
}


def _preset_under(data, presets: dict[str, dict], preset):
    """The preset's values with `data` on top (an unknown preset is left for the field's own validation)."""
    if isinstance(data, dict) and preset in presets:
        return {**presets[preset], **data}
    return data


class ContextConfig(BaseModel):
    """Training with context: the source chunk plus retrieved distractors from other documents in the prompt."""

    open_book_ratio: float = Field(
        default=0.5, ge=0, le=1, description="Share of train/val examples that carry passages (the rest closed book)."
    )
    k_distractors: int = Field(default=1, ge=0, description="Retrieved chunks from other documents added as distractors.")
    k_retrieve: int = Field(default=2, ge=1, description="Passages retrieved per question at evaluation and serving.")
    unanswerable_ratio: float = Field(
        default=0.15, ge=0, le=1, description="Share of the open-book train/val examples whose passages come only from "
        "other documents, answered \"The documents do not say.\": teaches the model to say so instead of guessing.")


class SplitConfig(BaseModel):
    """Document-level train/val/test split: no source document is in two splits, and a document's split is fixed by
    a hash of (seed, document id), so it never changes when documents are added or removed."""

    val_fraction: float = Field(default=0.1, gt=0, lt=0.5, description="Expected share of documents in val.")
    test_fraction: float = Field(default=0.15, gt=0, lt=0.5, description="Expected share of documents in test.")
    seed: int = Field(default=7, description="The domain's split seed: part of every document's hash; changing it "
                      "reassigns every document (and with it the benchmark).")
    max_test_questions: int | None = Field(
        default=None, description="Cap on benchmark questions kept in the test split (None = all): those with the "
        "lowest hash of their id, so the kept set only grows or swaps a few questions as the corpus grows."
    )
    context: ContextConfig = Field(
        default_factory=ContextConfig, description="Which examples carry retrieved passages in their prompt.")


class LoraConfig(BaseModel):
    """PEFT LoRA adapter shape."""

    r: int = Field(default=16, ge=1, description="Adapter rank.")
    alpha: int = Field(default=32, ge=1, description="Scaling numerator (scale = alpha / r).")
    dropout: float = Field(
        default=0.0, ge=0, lt=1,
        description="Dropout on the adapter's input. Above 0 every adapted layer keeps a dropped copy of its input "
        "for backward (~1.5 GB more at batch 8 x 288 for SmolLM2-135M); 0 matched 0.05 in validation loss "
        "(bench/train.py).",
    )
    target_modules: str | list[str] = Field(
        default="all-linear", description="Modules to adapt; `all-linear` = every linear layer but the head."
    )
    use_dora: bool = Field(default=False, description="Weight-decomposed LoRA.")
    qlora: bool = Field(default=False, description="Load the base in 4-bit NF4 (bitsandbytes) and train LoRA on top.")


class DpoConfig(BaseModel):
    """Preference tuning after SFT (TRL's DPOTrainer): the SFT model's own echoing or unsupported answers are the
    rejected side, the grounded references the chosen side."""

    enabled: bool = Field(default=False, description="Run the DPO phase on top of the SFT adapter in lora_adapter.")
    max_steps: int = Field(default=24, ge=1, description="DPO optimizer steps.")
    per_device_batch_size: int = Field(default=4, ge=1, description="Preference pairs per step.")
    learning_rate: float = Field(default=5e-5, gt=0, description="DPO learning rate (far below SFT's).")
    beta: float = Field(default=0.1, gt=0, description="DPO temperature: how far the policy may move from SFT.")
    max_prompts: int = Field(default=128, ge=8, description="Train prompts the SFT model answers to find its "
                             "own bad answers (each is one greedy generation).")
    max_new_tokens: int = Field(default=48, ge=8, description="Tokens per generated candidate answer.")
    min_support: float = Field(default=0.6, ge=0, le=1, description="An own answer whose content words occur less "
                               "than this in its passages (open book) or its reference (closed book) is rejected.")
    seed: int = Field(default=42, description="Prompt sampling and training seed.")


class TrainConfig(BaseModel):
    """Supervised fine-tuning through TRL's SFTTrainer."""

    preset: Preset = Field(
        default=DEFAULT_PRESET, description="Named starting point: smoke (tests, seconds), demo (CPU, minutes), full "
        "(GPU). It sets max_steps, per_device_batch_size, max_length, eval_steps and max_val_examples (full also "
        "learning_rate) here and in `distill`; fields set in the domain go on top.")
    max_steps: int = Field(ge=1, description="Optimizer steps (from the preset).")
    per_device_batch_size: int = Field(ge=1, description="Rows per optimizer step and per evaluation batch (from the "
                                       "preset).")
    gradient_accumulation_steps: int = Field(
        default=1, ge=1, description="Batches accumulated into one optimizer step.")
    micro_batch_size: int | None = Field(
        default=None, ge=1,
        description="Rows per forward/backward pass: each batch of per_device_batch_size rows is accumulated from "
        "per_device_batch_size / micro_batch_size passes (the same optimizer step and loss normalisation), so "
        "activation memory scales with the micro-batch (~1.3 MB a token for SmolLM2-135M in fp32). None = the "
        "whole batch in one pass (smoke and full). The demo preset: 2. Measured on 2 quiet CPU cores at batch 8 x "
        "288 (bench/results/train_quiet_*_2026-11-30.json): micro-batches of 2 trained 117.9 tokens/s at 2.5 GB "
        "peak RSS, whole batches 110.5 tokens/s at 5.9 GB, a plain PEFT loop 57.9 tokens/s at 9.9 GB.",
    )
    learning_rate: float = Field(
        default=5e-4, gt=0, description="Peak learning rate of the cosine schedule (the full preset: 2e-4).")
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1, description="Share of max_steps spent warming up.")
    max_length: int = Field(ge=32, description="Tokens per example, prompt + completion (from the preset).")
    max_train_examples: int | None = Field(default=None, description="Subsample the train split (None = all).")
    max_val_examples: int = Field(ge=1, description="Validation examples evaluated (from the preset).")
    eval_steps: int = Field(
        ge=1, description="Steps between validation runs and checkpoints; the best checkpoint is kept (from the "
        "preset).")
    seed: int = Field(default=42, description="Seeds training and data order.")
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in backward: less memory, slower steps.")
    packing: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Best-fit-decreasing packing of examples into max_length rows, trained padding-free (no pad "
        "tokens computed). It needs FlashAttention (CUDA + the flash_attn package): `auto` turns it on there; "
        "elsewhere batches are grouped by length instead, which keeps padding low.",
    )
    backend: Literal["auto", "transformers", "unsloth"] = Field(
        default="auto",
        description="Model loading and LoRA wrapping: `unsloth` (its fused kernels; CUDA only, needs the unsloth "
        "package), `transformers` (transformers + PEFT), or `auto` = unsloth when it is installed and CUDA is "
        "present, else transformers. Training is TRL's SFTTrainer either way, with the same settings.",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig, description="The LoRA adapter trained.")
    dpo: DpoConfig = Field(default_factory=DpoConfig, description="An optional preference phase after SFT.")

    @model_validator(mode="before")
    @classmethod
    def _preset_first(cls, data):
        preset = data.get("preset", DEFAULT_PRESET) if isinstance(data, dict) else None
        return _preset_under(data, PRESETS, preset)

    @model_validator(mode="after")
    def _micro_batch_divides_batch(self):
        if self.micro_batch_size and self.per_device_batch_size % self.micro_batch_size:
            raise ValueError(f"train.micro_batch_size ({self.micro_batch_size}) must divide "
                             f"train.per_device_batch_size ({self.per_device_batch_size})")
        return self

    @property
    def rows_per_pass(self) -> int:
        return self.micro_batch_size or self.per_device_batch_size


class DistillConfig(BaseModel):
    """Student = base + LoRA; loss = CE on domain answers + KL to the teacher + KL to the frozen base."""

    teacher_model: str | None = Field(
        default=None,
        description="Same-tokenizer teacher (hub id or path, e.g. HuggingFaceTB/SmolLM2-1.7B-Instruct for the bundled "
        "SmolLM2-135M). None = the merged `lora_adapter` model.",
    )
    student_init: Literal["lora_adapter", "fresh"] = Field(
        default="lora_adapter",
        description="The student's adapter at step 0: the trained `lora_adapter` (its LoRA settings then apply, "
        "`lora` below is ignored) or a fresh adapter built from `lora`.",
    )
    max_steps: int = Field(ge=1, description="Optimizer steps (from train.preset).")
    per_device_batch_size: int = Field(ge=1, description="Domain examples per step (from train.preset).")
    learning_rate: float = Field(
        default=5e-4, gt=0, description="Peak learning rate of the cosine schedule (the full preset: 2e-4).")
    max_length: int = Field(ge=32, description="Tokens per example, prompt + completion (from train.preset).")
    temperature: float = Field(default=2.0, gt=0, description="Softening temperature for both KL terms.")
    max_val_examples: int = Field(
        default=48, ge=1, description="Validation pairs for the domain-loss report (smoke and demo presets: 8, 32).")
    ce_weight: float = Field(default=1.0, ge=0, description="Weight of cross-entropy on domain answers.")
    teacher_kl_weight: float = Field(default=0.5, ge=0, description="Weight of KL(teacher || student) on domain data.")
    base_kl_weight: float = Field(default=1.0, ge=0, description="Weight of KL(base || student) on general replay.")
    seed: int = Field(default=42, description="Seeds training and batch sampling.")
    lora: LoraConfig = Field(
        default_factory=LoraConfig, description="The fresh adapter's shape when student_init is `fresh`.")

    @model_validator(mode="before")
    @classmethod
    def _preset_first(cls, data, info: ValidationInfo):
        """The preset is train's: `DistillConfig.model_validate(raw, context={"preset": ...})`, demo without."""
        return _preset_under(data, DISTILL_PRESETS, (info.context or {}).get("preset", DEFAULT_PRESET))


def train_config_from(raw: dict | None) -> TrainConfig:
    """A preset's values, then the domain's own fields on top."""
    return TrainConfig.model_validate(dict(raw or {}))


def distill_config_from(raw: dict | None, preset: str) -> DistillConfig:
    """Train's preset's distillation values, then the domain's own fields on top."""
    return DistillConfig.model_validate(dict(raw or {}), context={"preset": preset})
