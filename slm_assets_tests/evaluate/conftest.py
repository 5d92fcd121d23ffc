"""Tiny models for the evaluation tests: a 2-layer random Llama with SmolLM2's tokenizer, and its GGUF."""

from pathlib import Path

import pytest

from slm_assets.testing.tiny_models import save_tiny_smollm2


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny matrices on a shared 2-core machine: one thread is several times faster than two fighting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    return save_tiny_smollm2(tmp_path_factory.mktemp("tiny-llama"), smollm2_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory, tiny_llama_dir) -> Path:
    from slm_assets.export.gguf import convert_to_gguf

    return convert_to_gguf(tiny_llama_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-f16.gguf", "f16").path


@pytest.fixture(scope="session")
def tiny_model(tiny_llama_dir):
    """(model, tokenizer) loaded once; tests must not change the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    return AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)).eval(), tokenizer


@pytest.fixture(scope="package")
def tracking_dir(tmp_path_factory) -> Path:
    """One MLflow SQLite store for the package: creating its schema takes seconds, reusing it does not."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def tracking(tracking_dir):
    from slm_assets.resources.mlflow_tracking import TrackingResource

    return TrackingResource(tracking_uri=f"sqlite:///{tracking_dir / 'mlflow.db'}", artifacts_dir=str(tracking_dir / "mlruns"))
