"""A domain project for tests that build data versions: a tiny random base model, four sample pages, a
temporary DAGSTER_HOME, warehouse and MLflow registry (fixture `project`), and the calls that build and ask."""

import shutil

import dagster as dg
import pytest
from typer.testing import CliRunner

from slm_assets.settings import PROJECT_ROOT
from slm_assets_tests.helpers import tiny_corpus, write_domain

DOMAIN = "tiny"
DATA_ASSETS = ["raw_docs", "clean_chunks", "synthetic_qa_5000", "sft_dataset"]


@pytest.fixture(name="project")
def project_fixture(tmp_path, monkeypatch, resources_for):
    from slm_assets.testing.tiny_models import CASES, build_tiny_model

    base = build_tiny_model(CASES[0], tmp_path / "base_model")
    corpus = tiny_corpus(tmp_path / "corpus", n_html=4, n_pdf=0)
    write_domain(tmp_path / "domains", DOMAIN, [str(corpus)], base_model=str(base), teacher={"provider": "offline"},
                 synth={"n_pairs": 400})  # more than the corpus gives: every chunk is used, the new one too
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse"
    for key, value in {"DAGSTER_HOME": home, "SLM_WAREHOUSE_DIR": warehouse, "SLM_DOMAINS_DIR": tmp_path / "domains",
                       "SLM_MLFLOW_TRACKING_URI": f"sqlite:///{warehouse / 'mlflow.db'}"}.items():
        monkeypatch.setenv(key, str(value))
    return {"corpus": corpus, "home": home, "warehouse": warehouse,
            "resources": resources_for(tmp_path / "domains", warehouse)}


def build(project, assets=DATA_ASSETS) -> str:
    """Materialise the data assets for the domain; returns the Dagster run id."""
    from slm_assets.defs import ingest, process, synth, train

    defs = {"raw_docs": ingest.raw_docs, "clean_chunks": process.clean_chunks,
            "synthetic_qa_5000": synth.synthetic_qa_5000, "sft_dataset": train.sft_dataset}
    with dg.DagsterInstance.from_config(str(project["home"])) as instance:
        instance.add_dynamic_partitions("domain", [DOMAIN])
        result = dg.materialize([defs[a] for a in assets], partition_key=DOMAIN, instance=instance,
                                resources=project["resources"])
    assert result.success
    return result.run_id


def cli(*args: str) -> str:
    from slm_assets.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output
