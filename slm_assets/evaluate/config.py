"""Benchmark settings and the promotion gate."""

from typing import Literal

from pydantic import BaseModel, Field


class BenchmarkConfig(BaseModel):
    max_questions: int | None = Field(default=60, description="Benchmark questions scored (None = whole test split).")
    max_new_tokens: int = Field(default=64, ge=1, description="Greedy decoding length per answer.")
    batch_size: int = Field(default=8, ge=1, description="Questions generated together.")
    primary_metric: Literal["rouge_l", "bleu", "exact_match", "token_f1"] = Field(
        default="rouge_l", description="Metric the promotion gate compares."
    )
    min_improvement: float = Field(
        default=0.0, description="The tuned model must beat base by more than this on the primary metric."
    )
    seed: int = Field(default=0)


class ExportConfig(BaseModel):
    quantizations: list[Literal["f16", "q8_0"]] = Field(
        default_factory=lambda: ["q8_0"], description="GGUF files written per version."
    )
    registered_model_prefix: str = Field(default="slm", description="Registry name = <prefix>-<domain>.")
