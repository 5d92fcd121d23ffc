"""Everything offline: no hub, no internet. Shared fixtures: a tiny domain, a temporary warehouse."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # MLflow 3 sends usage events to its servers unless told not to

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from slm_assets_tests.helpers import tiny_corpus, write_domain  # noqa: E402


def pytest_collection_modifyitems(items):
    """Slow tests first (a stable sort): under pytest-xdist (`make test` runs two workers) they start at once on
    separate workers and the short tests fill in around them, instead of meeting at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def models_cache(tmp_path_factory) -> Path:
    """Converted base models, shared by the whole session (SLM_TEST_MODELS_CACHE reuses one across sessions)."""
    reuse = os.environ.get("SLM_TEST_MODELS_CACHE")
    if reuse:
        Path(reuse).mkdir(parents=True, exist_ok=True)
        return Path(reuse)
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def bundled_model_dir(models_cache) -> Path:
    from slm_assets.models import resolve_model

    return Path(resolve_model("bundled:smollm2-135m-instruct", models_cache))


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's tokenizer files only: read from the bundled GGUF's metadata (~6 s), no weights."""
    from transformers import AutoTokenizer

    from slm_assets.models import allow_transformers_gguf, bundled_gguf

    allow_transformers_gguf()
    gguf_file = bundled_gguf("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    target = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_smollm2_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """A 2-layer random Llama with SmolLM2's vocabulary and tokenizer (`testing.tiny_models.save_tiny_smollm2`);
    tests must not change it."""
    from slm_assets.testing.tiny_models import save_tiny_smollm2

    return save_tiny_smollm2(tmp_path_factory.mktemp("tiny-smollm2"), smollm2_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_smollm2_f16_gguf(tmp_path_factory, tiny_smollm2_dir) -> Path:
    """`tiny_smollm2_dir` converted by llama.cpp's converter to f16 GGUF."""
    from slm_assets.export.gguf import convert_to_gguf

    return convert_to_gguf(tiny_smollm2_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-f16.gguf", "f16").path


@pytest.fixture
def tiny_domain(tmp_path) -> dict:
    """A domain YAML in a temporary domains/ folder, and a temporary warehouse."""
    corpus = tiny_corpus(tmp_path / "corpus")
    domains_dir = tmp_path / "domains"
    write_domain(domains_dir, "tiny", [str(corpus)])
    return {"name": "tiny", "domains_dir": domains_dir, "warehouse": tmp_path / "warehouse", "corpus": corpus}


@pytest.fixture
def resources_for(models_cache):
    """Offline resources bound to a temporary warehouse and domains folder."""

    def build(domains_dir: Path, warehouse_dir: Path) -> dict:
        from slm_assets.resources.domains import DomainsResource
        from slm_assets.resources.mlflow_tracking import TrackingResource
        from slm_assets.resources.teacher import TeacherResource
        from slm_assets.resources.trainer import TrainerResource
        from slm_assets.resources.warehouse import WarehouseResource

        warehouse_dir.mkdir(parents=True, exist_ok=True)
        return {
            "warehouse": WarehouseResource(root=str(warehouse_dir), models_cache=str(models_cache)),
            "domains": DomainsResource(domains_dir=str(domains_dir)),
            "teacher": TeacherResource(provider_override="offline"),
            "tracking": TrackingResource(tracking_uri=f"sqlite:///{warehouse_dir / 'mlflow.db'}",
                                         artifacts_dir=str(warehouse_dir / "mlruns")),
            "trainer": TrainerResource(),
        }

    return build


@pytest.fixture(autouse=True)
def _no_dangling_defs_state_storage():
    """A DagsterInstance built without a context manager (e.g. by execute_in_process or build_*_context) leaves
    Dagster's current defs-state storage pointing at it after it is collected; the next `load_from_defs_folder`
    then fails with "undefined DagsterInstance weakref". Start every test without one, as a fresh process would."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
