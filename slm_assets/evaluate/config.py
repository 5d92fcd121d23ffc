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
    seed: int = Field(default=0, description="Seeds torch before generation, so a rerun gives the same numbers.")
    # pairwise LLM judge
    llm_judge: bool = Field(
        default=True,
        description="Ask the domain's teacher to compare each tuned model's answer with base's, in both orders. "
        "Runs only when the teacher is an LLM provider (groq, openai); offline the reference_f1 judge stands alone.",
    )
    judge_max_questions: int | None = Field(
        default=None, ge=1, description="Questions sent to the LLM judge per model (None = all scored questions); "
        "each costs two calls.",
    )
    judge_max_tokens: int = Field(default=200, ge=16, description="Completion tokens per verdict.")
    judge_workers: int = Field(
        default=4, ge=1, description="Judge calls in flight at once (the teacher's requests/tokens per minute "
        "limits from `synth` still apply).",
    )
    compare_teacher: bool = Field(
        default=True,
        description="Also ask the domain's LLM teacher (groq, openai) the benchmark questions and score its answers "
        "as `teacher` (no reference perplexity: APIs return no log-probabilities). Never a gate candidate.",
    )
    # latency and throughput
    latency_prompts: int = Field(
        default=8, ge=0, description="First N benchmark prompts timed for latency (0 = no latency measurement).")
    latency_max_new_tokens: int = Field(default=32, ge=2, description="Tokens decoded per timed prompt.")
    latency_fixed_length: bool = Field(
        default=True, description="Suppress end-of-sequence tokens while timing, so every prompt decodes exactly "
        "latency_max_new_tokens tokens and runtimes are compared on equal work.",
    )
    latency_gguf: bool = Field(
        default=True, description="Also time the best tuned model as a GGUF (the first export quantization) in "
        "llama.cpp at batch 1 and at batch_size (prompts decoded together in one context); written to a temporary "
        "file when the export has not run yet.",
    )
    latency_warmup: int = Field(default=1, ge=0, description="Untimed generations before each timed run.")
    latency_threads: int | None = Field(
        default=None, ge=1, description="llama.cpp threads (None = every CPU core this process may use); "
        "transformers uses torch's thread setting.",
    )

