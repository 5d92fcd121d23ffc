"""A tiny GGUF (random 2-layer Llama with SmolLM2's tokenizer) served over real HTTP on 127.0.0.1.

The model's answers are gibberish: tests check the protocols, limits and bookkeeping, not content.
"""

from pathlib import Path

import pytest

from slm_assets.testing.tiny_models import save_tiny_smollm2
from slm_assets_tests.serve.helpers import API_KEY, SYSTEM_PROMPT, TOKENIZER_FILES, TUNED, make_app


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory, bundled_model_dir) -> Path:
    """A randomly initialised LlamaForCausalLM (hidden 64, 2 layers) saved with SmolLM2's tokenizer
    (taken from the bundled model converted once into `models_cache`, or SLM_TEST_MODELS_CACHE)."""
    return save_tiny_smollm2(tmp_path_factory.mktemp("tiny-llama"), bundled_model_dir, seed=0,
                             tokenizer_files=TOKENIZER_FILES)


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


@pytest.fixture(scope="session")
def server(tiny_models) -> str:
    """Base URL of the shared server (no meaningful rate limit)."""
    from slm_assets.serve.server import background_server

    with background_server(make_app(tiny_models)) as url:
        yield url


@pytest.fixture
def auth() -> dict:
    return {"Authorization": f"Bearer {API_KEY}"}
