"""Fixtures of the evaluation tests: one torch thread, the tiny SmolLM2-vocabulary model loaded once (its folder and
GGUF are the session fixtures `tiny_smollm2_dir` / `tiny_smollm2_f16_gguf`), MLflow tracking."""

from pathlib import Path

import pytest


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny matrices on a shared 2-core machine: one thread is several times faster than two fighting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tiny_smollm2_dir):
    """(model, tokenizer) loaded once; tests must not change the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_smollm2_dir))
    return AutoModelForCausalLM.from_pretrained(str(tiny_smollm2_dir)).eval(), tokenizer


@pytest.fixture(scope="package")
def tracking_dir(tmp_path_factory) -> Path:
    """One MLflow SQLite store for the package: creating its schema takes seconds, reusing it does not."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def tracking(tracking_dir):
    from slm_assets.resources.mlflow_tracking import TrackingResource

    return TrackingResource(tracking_uri=f"sqlite:///{tracking_dir / 'mlflow.db'}", artifacts_dir=str(tracking_dir / "mlruns"))
