"""Teacher choice and the synthetic QA budget."""

from typing import Literal

from pydantic import BaseModel, Field

TeacherProvider = Literal["offline", "groq", "openai", "local"]

# Groq's published on-demand price for llama-3.3-70b-versatile (USD per million tokens), the default model.
GROQ_LLAMA_3_3_70B_USD_PER_M = (0.59, 0.79)


class TeacherConfig(BaseModel):
    """Which LLM writes the QA pairs. `offline` needs no LLM: it derives pairs from the text itself."""

    provider: TeacherProvider = Field(
        default="offline",
        description="offline (extractive, no LLM), groq (GROQ_API_KEY), openai (any OpenAI-compatible server: "
        "Ollama, vLLM, llama.cpp), or local (a causal LM run in this process with transformers; `model` is a "
        "model reference as for base_model: bundled:..., a local directory or a hub id).",
    )
    model: str = Field(default="llama-3.3-70b-versatile", description="Model name at the provider.")
    base_url: str | None = Field(
        default=None,
        description="Server root. groq: default Groq cloud; openai: e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    api_key_env: str = Field(
        default="GROQ_API_KEY", description="Environment variable holding the key (never the key itself)."
    )
    temperature: float = Field(default=0.7, ge=0, le=2, description="0 = greedy (local) / least random (APIs).")
    max_tokens: int = Field(default=1024, ge=16, description="Completion tokens per call.")
    timeout_s: float = Field(default=60.0, gt=0, description="Seconds one teacher call may take.")
    max_retries: int = Field(default=2, ge=0, description="Client retries on 429/5xx (retry-after honoured).")
    usd_per_million_prompt_tokens: float | None = Field(
        default=None, ge=0,
        description="Price of prompt tokens for the cost estimate. None: Groq's published llama-3.3-70b-versatile "
        f"price (${GROQ_LLAMA_3_3_70B_USD_PER_M[0]}) for provider groq, 0 for the others (self-hosted). "
        "Set it for another Groq model or a paid OpenAI-compatible service.",
    )
    usd_per_million_completion_tokens: float | None = Field(
        default=None, ge=0,
        description=f"Price of completion tokens; None: ${GROQ_LLAMA_3_3_70B_USD_PER_M[1]} for groq, 0 otherwise.",
    )

    def prices(self, provider: str | None = None) -> tuple[float, float]:
        """(prompt, completion) USD per million tokens for `provider` (default: this config's)."""
        default = GROQ_LLAMA_3_3_70B_USD_PER_M if (provider or self.provider) == "groq" else (0.0, 0.0)
        prompt, completion = self.usd_per_million_prompt_tokens, self.usd_per_million_completion_tokens
        return (default[0] if prompt is None else prompt, default[1] if completion is None else completion)


class SynthConfig(BaseModel):
    """How many pairs and under which limits."""

    n_pairs: int = Field(default=5000, ge=1, description="Accepted QA pairs to produce; generation stops there.")
    pairs_per_call: int = Field(
        default=6, ge=1, le=20,
        description="QA pairs asked for in one teacher call. More pairs per call spread the passage's prompt "
        "tokens over more pairs (bench/synth.py: 5.4 accepted per 1k tokens at 3, 7.2 at 6, 7.5 at 8); past the "
        "passage's distinct facts, more only adds duplicates.",
    )
    seed: int = Field(default=13, description="Seeds chunk order and template choice.")
    min_answer_words: int = Field(default=3, ge=1, description="Shorter answers are rejected.")
    max_answer_words: int = Field(default=120, ge=1, description="Longer answers are rejected.")
    min_support: float = Field(
        default=0.5, ge=0, le=1, description="Share of the answer's content words found in its chunk (groundedness)."
    )
    token_budget: int | None = Field(
        default=None, description="Teacher tokens (prompt+completion) allowed per run; stops cleanly when spent."
    )
    requests_per_minute: int | None = Field(
        default=None, ge=1,
        description="Client-side limit on teacher requests per minute (sliding window); None = unlimited. "
        "Groq's free tier allows about 30 for llama-3.3-70b-versatile: set it to your account's limit.",
    )
    tokens_per_minute: int | None = Field(
        default=None, ge=1,
        description="Client-side limit on teacher tokens (prompt+completion) per minute; None = unlimited. "
        "Groq's free tier allows about 12,000 for llama-3.3-70b-versatile and 6,000 for llama-3.1-8b-instant.",
    )
    retry_pause_s: float = Field(
        default=20.0, ge=0,
        description="A call that failed after the client's own retries (5xx, timeout) is retried once, this "
        "many seconds later, in the same run; if it fails again it is left for the next run.",
    )
    max_rate_limit_pause_s: float = Field(
        default=300.0, ge=0,
        description="Longest whole-loop pause accepted on a rate-limit error (the server's retry-after); a "
        "longer one (a daily limit) stops the run cleanly, to be run again later.",
    )
    max_rate_limit_pauses: int = Field(
        default=50, ge=0, description="Whole-loop rate-limit pauses allowed in one run before it stops cleanly."
    )
    judge_groundedness: bool = Field(
        default=False,
        description="LLM teachers only: one extra short call per batch asks the teacher whether each answer that "
        "passed the lexical gates is supported by its passage; unsupported pairs are rejected (judge_unsupported).",
    )
