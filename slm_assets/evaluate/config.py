"""Benchmark settings and the promotion gate."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class BenchmarkConfig(BaseModel):
    """The benchmark on held-out questions, the promotion gate, the LLM judge and latency runs."""

    max_questions: int | None = Field(default=60, description="Benchmark questions scored (None = whole test split).")
    max_new_tokens: int = Field(default=64, ge=1, description="Greedy decoding length per answer.")
    batch_size: int = Field(
        default=32, ge=1, description="Questions generated together (prompts of similar token length batched "
        "together). On 2 CPU cores decoding is per-step overhead more than arithmetic, so larger batches pay: "
        "64 demo gold questions took 51.7 s closed book in batches of 8, 26.1 s in batches of 32, with the same "
        "answers (bench/results/benchmark_parts.json).")
    generation_workers: int = Field(
        default=2, ge=1, description="Batches generated at once on CPU, each in its own thread with an equal share "
        "of torch's threads (never more than torch has; CUDA generates one batch at a time). The answers are the "
        "same; on 2 cores two batches on one thread each gave 1.2x the open-book and 1.1x the closed-book "
        "throughput of one batch on two threads (bench/results/thread_split.json).")
    dtype: Literal["float32", "bfloat16"] = Field(
        default="float32", description="Weights of every scored model (merged in fp32, then cast). bfloat16 is "
        "faster only where the hardware computes it natively (a GPU; CPUs with AVX512-BF16 or AMX) and changes "
        "individual greedy answers, so figures are comparable only between runs in the same dtype. On an AMD EPYC "
        "with AVX512-BF16 (2 cores) the demo's 169 gold questions, base and lora_adapter, took 273 s against "
        "415 s in float32; 100 of 169 base closed-book answers changed, every paired ROUGE-L difference stayed "
        "within +-0.02 (95 % intervals containing 0) and the gate's verdict was the same; on ev_public's 129, "
        "240 s against 350 s, the same verdict (bench/results/gold_ev_*_bf16.json).")
    primary_metric: Literal["rouge_l", "bleu", "exact_match", "token_f1"] = Field(
        default="rouge_l", description="Metric the promotion gate compares."
    )
    min_improvement: float = Field(
        default=0.0, description="The lower bound of the paired bootstrap interval of (tuned - base) on the primary "
        "metric must be above this for the gate to pass.")
    gold_questions: Path | None = Field(
        default=None, description="Human-written questions (JSONL: question, answer, source, evidence, answerable, "
        "split; a relative path is taken from the project root), e.g. domains/gold/<domain>.jsonl. When set, every "
        "model is scored on them, the promotion gate uses them, and the synthetic test split becomes the report's "
        "second table.")
    gate_on: Literal["served", "closed_book"] = Field(
        default="served", description="What the gate compares: answers as the server gives them (open book with the "
        "grounding check) or closed-book answers.")
    max_echo_rate: float = Field(
        default=0.05, ge=0, le=1, description="The gate refuses a tuned model whose own answers (closed or open book) "
        "restate the question more often than this.")
    bootstrap_resamples: int = Field(default=1000, ge=100, description="Paired bootstrap resamples for the gate.")
    synthetic_max_questions: int | None = Field(
        default=24, ge=1, description="Synthetic test-split questions scored in the second table when gold questions "
        "are set (None = all).")
    seed: int = Field(default=0, description="Seeds torch before generation, so a rerun gives the same numbers.")
    reference_perplexity: bool = Field(
        default=True, description="Score each local model's perplexity on the reference answers, closed book (one "
        "forward pass per question and model). Open-book and served rows leave it NaN: over the passages it cost "
        "a fifth of a model's benchmark (39 s of 193 s for 64 demo gold questions on 2 cores, "
        "bench/results/benchmark_parts.json). Off: the column is NaN everywhere.")
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

