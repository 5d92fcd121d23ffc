"""Fixtures of the training tests: a tiny randomly initialised Llama built from a config (no download)."""

import pytest

from slm_assets.testing.tiny_models import tiny_llama


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_llama")
    tiny_llama(256, hidden_size=32, intermediate_size=64, max_position_embeddings=128).save_pretrained(path)
    return path
