"""The server's limits, from `SLM_SERVE_<FIELD>` environment variables or `slm-assets serve` options."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Server limits. Every field can be set as `SLM_SERVE_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SLM_SERVE_", extra="ignore", frozen=True)

    api_keys_file: Path | None = Field(
        default=None, description="File with one API key per line, added to the comma-separated SLM_API_KEYS.")
    max_tokens_cap: int = Field(default=1024, ge=1, description="Requests asking for more tokens get 422.")
    default_max_tokens: int = Field(default=256, ge=1, description="Used when a request sets no limit.")
    default_temperature: float = Field(default=0.7, ge=0, description="Used when a request sets none.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413.")
    rate_limit_per_minute: float = Field(default=120, ge=0, description="Per API key; 0 disables the limit.")
    rate_limit_burst: int = Field(default=20, ge=1, description="Requests a key may send at once.")
    max_queue: int = Field(default=256, ge=1, description="Generations waiting per model group before 503.")
    log_prompts: bool = Field(default=False, description="Put prompts into the access log (off: privacy).")
    stream_interval_ms: float = Field(
        default=40.0, ge=0, description="Streamed replies send at most one chunk per this many milliseconds, the "
        "tokens decoded in between joined into it (0: one chunk per decoded piece). The first text and the end go "
        "out at once. 40 ms took single-stream decode through the server from 0.87x to 0.99x of llama-cpp-python "
        "used directly on 2 cores (bench/serve.py --decode-only).")
    warmup: bool = Field(default=True, description="Generate one token per model at startup, before /readyz is 200.")
