"""Models for the export tests: the bundled SmolLM2 (converted once per session, or read from
SLM_TEST_MODELS_CACHE) and its tokenizer alone for tiny random models."""

import os
from pathlib import Path

import pytest

from slm_assets.models import resolve_model

BUNDLED = "smollm2-135m-instruct"


def _models_cache(tmp_path_factory) -> Path:
    configured = os.environ.get("SLM_TEST_MODELS_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def bundled_model_dir(tmp_path_factory) -> Path:
    """The bundled SmolLM2-135M-Instruct as an HF safetensors directory (~20 s the first time)."""
    return Path(resolve_model(f"bundled:{BUNDLED}", _models_cache(tmp_path_factory)))


