"""Teacher choice and the synthetic QA budget."""

from typing import Literal

from pydantic import BaseModel, Field

TeacherProvider = Literal["offline", "groq", "openai"]


class TeacherConfig(BaseModel):
    """Which LLM writes the QA pairs. `offline` needs no LLM: it derives pairs from the text itself."""

    provider: TeacherProvider = Field(
        default="offline",
        description="offline (extractive, no LLM), groq (GROQ_API_KEY), or openai (any OpenAI-compatible server: Ollama, vLLM, llama.cpp).",
    )
    model: str = Field(default="llama-3.3-70b-versatile", description="Model name at the provider.")
    base_url: str | None = Field(
        default=None,
        description="Server root. groq: default Groq cloud; openai: e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    api_key_env: str = Field(
        default="GROQ_API_KEY", description="Environment variable holding the key (never the key itself)."
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=16, description="Completion tokens per call.")
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, description="Client retries on 429/5xx (retry-after honoured).")


class SynthConfig(BaseModel):
    """How many pairs and under which limits."""

    n_pairs: int = Field(default=5000, ge=1, description="Accepted QA pairs to produce; generation stops there.")
    pairs_per_call: int = Field(default=5, ge=1, le=20, description="QA pairs asked for in one teacher call.")
    seed: int = Field(default=13, description="Seeds chunk order and template choice.")
    min_answer_words: int = Field(default=3, ge=1)
    max_answer_words: int = Field(default=120, ge=1)
    min_support: float = Field(
        default=0.5, ge=0, le=1, description="Share of the answer's content words found in its chunk (groundedness)."
    )
    token_budget: int | None = Field(
        default=None, description="Teacher tokens (prompt+completion) allowed per run; stops cleanly when spent."
    )
