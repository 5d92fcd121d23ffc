"""What the serve tests share besides fixtures: the API keys, the served names, small limits, an app builder."""

from slm_assets.serve.auth import ApiKeys
from slm_assets.serve.settings import ServeSettings

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key-abcdef"
TUNED = "slm-tiny"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
SYSTEM_PROMPT = "You are a concise expert assistant on tiny test models."

# Small limits so the error tests are cheap: 422 above 64 tokens, 413 above 64 KiB.
SETTINGS = dict(max_tokens_cap=64, default_max_tokens=16, default_temperature=0.0, max_body_bytes=65536,
                rate_limit_per_minute=100_000, rate_limit_burst=10_000, log_prompts=False,
                stream_interval_ms=0)  # one chunk per decoded piece: the protocol tests count them


def make_app(models: dict, **overrides):
    from slm_assets.serve.app import create_app

    return create_app(models, ServeSettings(**{**SETTINGS, **overrides}),
                      api_keys=ApiKeys.from_keys([API_KEY, OTHER_KEY]))
