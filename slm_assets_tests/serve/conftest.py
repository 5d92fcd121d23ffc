"""A tiny GGUF (random 2-layer Llama with SmolLM2's tokenizer) served over real HTTP on 127.0.0.1.

The model's answers are gibberish: tests check the protocols, limits and bookkeeping, not content.
"""

import shutil
from pathlib import Path

import pytest

from slm_assets.serve.auth import ApiKeys
from slm_assets.serve.settings import ServeSettings

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key-abcdef"
TUNED = "slm-tiny"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
SYSTEM_PROMPT = "You are a concise expert assistant on tiny test models."

# Small limits so the error tests are cheap: 422 above 64 tokens, 413 above 64 KiB.
SETTINGS = dict(max_tokens_cap=64, default_max_tokens=16, default_temperature=0.0, max_body_bytes=65536,
                rate_limit_per_minute=100_000, rate_limit_burst=10_000, log_prompts=False)


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory, bundled_model_dir) -> Path:
    """A randomly initialised LlamaForCausalLM (hidden 64, 2 layers) saved with SmolLM2's tokenizer
    (taken from the bundled model converted once into `models_cache`, or SLM_TEST_MODELS_CACHE)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    target = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
                         initializer_range=0.2)  # sharp logits: visible gibberish rather than blank lines
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    for name in TOKENIZER_FILES:
        if (bundled_model_dir / name).exists():
            shutil.copy(bundled_model_dir / name, target / name)
    return target


@pytest.fixture(scope="session")
def tiny_gguf(tiny_hf_dir, tmp_path_factory) -> Path:
    from slm_assets.export.gguf import convert_to_gguf

    return convert_to_gguf(tiny_hf_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-f16.gguf", "f16").path


@pytest.fixture(scope="session")
def tiny_models(tiny_gguf) -> dict:
    """Two llama.cpp backends on the tiny GGUF: the 'base' and the 'tuned' model of the playground."""
    from slm_assets.serve.backends import LlamaCppBackend

    models = {
        "base": LlamaCppBackend(tiny_gguf, n_threads=1, n_ctx=512, version="base"),
        TUNED: LlamaCppBackend(tiny_gguf, n_threads=1, n_ctx=512, version="3", system_prompt=SYSTEM_PROMPT),
    }
    yield models
    for backend in models.values():
        backend.close()


def make_app(models: dict, **overrides):
    from slm_assets.serve.app import create_app

    return create_app(models, ServeSettings(**{**SETTINGS, **overrides}),
                      api_keys=ApiKeys.from_keys([API_KEY, OTHER_KEY]))


@pytest.fixture(scope="session")
def server(tiny_models) -> str:
    """Base URL of the shared server (no meaningful rate limit)."""
    from slm_assets.serve.server import background_server

    with background_server(make_app(tiny_models)) as url:
        yield url


@pytest.fixture
def auth() -> dict:
    return {"Authorization": f"Bearer {API_KEY}"}
