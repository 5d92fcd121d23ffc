"""What tests in several folders build: a small copy of the sample corpus and a domain YAML sized for a smoke run;
what they read back: a warehouse's registered model versions."""

import shutil
from pathlib import Path

import yaml

from slm_assets.settings import PROJECT_ROOT

SAMPLE_HTML = PROJECT_ROOT / "samples" / "ev_charging" / "html"
SAMPLE_PDF = PROJECT_ROOT / "samples" / "ev_charging" / "pdf"


def tiny_corpus(target: Path, n_html: int = 8, n_pdf: int = 1) -> Path:
    """A few of the team's sample pages (and PDFs), copied so a test can add or break files freely."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(SAMPLE_HTML.glob("*.html"))[:n_html]:
        shutil.copy(path, target / path.name)
    for path in sorted(SAMPLE_PDF.glob("*.pdf"))[:n_pdf]:
        shutil.copy(path, target / path.name)
    return target


# latency timed on two prompts of four tokens: the timing code runs, the figures are not what a test checks
QUICK_LATENCY = {"latency_prompts": 2, "latency_max_new_tokens": 4}


def write_domain(domains_dir: Path, name: str, folders: list[str], **overrides) -> Path:
    spec = {
        "name": name,
        "topic": "electric vehicle charging stations",
        "sources": {"folders": folders},
        "synth": {"n_pairs": 80},
        "split": {"val_fraction": 0.15, "test_fraction": 0.2, "seed": 3},
        "train": {"preset": "smoke"},
        # a smoke-trained model need not beat base: the gate is tested on its own, here the graph must run through
        "benchmark": {"max_questions": 8, "max_new_tokens": 16, "batch_size": 8, "min_improvement": -1.0,
                      "max_echo_rate": 1.0, **QUICK_LATENCY},
    }
    spec.update(overrides)
    domains_dir.mkdir(parents=True, exist_ok=True)
    path = domains_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def registered_versions(warehouse: Path, name: str) -> list:
    """Every version of registered model `name` in the warehouse's MLflow store, each read alone (search results carry
    no aliases)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{warehouse / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    return [client.get_model_version(v.name, v.version) for v in client.search_model_versions(f"name = '{name}'")]
