"""A registered version comes from an MLflow run: the run logs the merged model (transformers flavour), the GGUF
files, the benchmark report and the lineage manifest, and `models:/<name>/<version>` loads and answers.
Real parts: a tiny random Llama with a LoRA adapter, llama.cpp's converter, quantizer and parity check, MLflow on
SQLite in a temporary folder; the bundle stays readable by the server and the champion loader."""

import json
import shutil
from pathlib import Path

import dagster as dg
import mlflow
import pytest

from slm_assets.domains import DomainSpec
from slm_assets.evaluate.champion import champion_files
from slm_assets.export.package import BuiltBundle, build_bundle
from slm_assets.export.publish import content_sha256, publish_bundle
from slm_assets.resources.mlflow_tracking import TrackingResource, fluent_uris
from slm_assets.serve.registry_loader import resolve_served_model
from slm_assets.testing.tiny_models import CASES, build_tiny_model, save_random_lora_adapter
from slm_assets_tests.lineage_project import project_fixture  # noqa: F401  (a fixture: a real warehouse and DAGSTER_HOME)

DOMAIN = "ev"
SCORES = {"base": 0.10, "lora_adapter": 0.30}
LINEAGE_TAGS = {"snapshot.raw_docs": "raw_docs-0123abcd", "snapshot.raw_docs.hash": "ab" * 32,
                "snapshot.sft_dataset": "sft_dataset-4567ef01"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A base model, a LoRA adapter on it, an SFT test split and a benchmark folder, as the upstream assets leave
    them (one run folder per kind)."""
    root = tmp_path_factory.mktemp("trained")
    base = build_tiny_model(CASES[0], root / "base")
    save_random_lora_adapter(base, root / "lora" / "adapter", seed=1)
    (root / "sft").mkdir()
    (root / "sft" / "test.jsonl").write_text("\n".join(json.dumps(
        {"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": "CCS2."}]})
        for q in ["Which connector do most European fast chargers use?", "How does roaming work?"]))
    bench = root / "benchmark"
    bench.mkdir()
    report = {"best_model": "lora_adapter", "primary_metric": "rouge_l", "n_questions": 2,
              "compared": ["lora_adapter", "base"],
              "models": {m: {"rouge_l": s, "bleu": s / 2, "exact_match": 0.0, "token_f1": s} for m, s in SCORES.items()},
              "promotion": {"passed": True, "against": "base", "champion": {"version": None},
                            "verdict": "promoted: lora_adapter beats base, interval [0.05, 0.31] on 2 questions"}}
    (bench / "report.json").write_text(json.dumps(report))
    (bench / "report.md").write_text("# Benchmark\n![scores](scores.png)\n")
    (bench / "scores.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return {"base": base, "lora": root / "lora", "sft": root / "sft", "benchmark": bench,
            "distilled": root / "distilled"}


def _spec(base: Path) -> DomainSpec:
    return DomainSpec(name=DOMAIN, topic="electric vehicle charging", base_model=str(base),
                      description="EV charging questions.", benchmark={"max_new_tokens": 6},
                      export={"quantizations": ["f16"], "parity_prompts": 2, "parity_max_new_tokens": 4})


def _manifest(bundle: Path, run_id: str) -> dict:
    manifest = {"domain": DOMAIN, "exported_model": "lora_adapter", "dagster_run_id": run_id, "code_version": "test",
                "dataset_hash": "d" * 16, "qa_ids": {}, "documents": [{"doc_id": "a", "source": "a.html"}],
                "lineage": {"snapshots": {"raw_docs": {"snapshot_id": "raw_docs-0123abcd"}}}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def tracking(tmp_path) -> TrackingResource:
    return TrackingResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifacts_dir=str(tmp_path / "mlruns"))


def test_a_registered_version_comes_from_a_run_with_the_model_ggufs_report_and_manifest(tmp_path, trained,
                                                                                         tracking):
    spec = _spec(trained["base"])
    bundle = tmp_path / "artifacts" / DOMAIN / "export" / "run-0000abcd"
    built = build_bundle(spec, trained, bundle, tmp_path / "models")
    assert built.passed, built.parity
    published = publish_bundle(tracking, spec, built, _manifest(bundle, "dagster-run-1"), LINEAGE_TAGS,
                               "dagster-run-1")
    assert published.version == "1" and published.promoted

    client = tracking.client()
    version = client.get_model_version("slm-ev", "1")
    assert version.run_id == published.mlflow_run_id
    assert version.tags["bundle"] == str(bundle)
    assert {k: version.tags[k] for k in LINEAGE_TAGS} == LINEAGE_TAGS
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster.run_id"] == "dagster-run-1" and run.data.tags["snapshot.raw_docs"] == "raw_docs-0123abcd"
    assert run.data.metrics["benchmark.lora_adapter.rouge_l"] == pytest.approx(0.30)
    assert run.data.metrics["parity.f16.passed"] == 1.0
    logged = _artifact_paths(client, version.run_id)
    assert {"gguf/ev-f16.gguf", "gguf/Modelfile", "benchmark/report.json", "benchmark/benchmark.md",
            "benchmark/scores.png", "lineage/manifest.json", "README.md"} <= logged
    assert (bundle / "README.md").read_text().startswith("# slm-ev v1")
    assert client.get_model_version_by_alias("slm-ev", "champion").version == 1
    assert version.tags["content_sha256"] == content_sha256(built.ggufs)

    # gguf_export killed after registering, then run again, builds the same GGUF files: v1 is reused, no copy
    again = publish_bundle(tracking, spec, built, _manifest(bundle, "dagster-run-2"), LINEAGE_TAGS, "dagster-run-2")
    assert (again.version, again.promoted) == ("1", True) and again.mlflow_run_id != published.mlflow_run_id
    assert [int(v.version) for v in client.search_model_versions("name = 'slm-ev'")] == [1]

    with fluent_uris(tracking.tracking_uri):
        pipeline = mlflow.transformers.load_model("models:/slm-ev/1")
        chat = mlflow.pyfunc.load_model("models:/slm-ev@champion")
    generated = pipeline("Which connector?", max_new_tokens=4, do_sample=False)[0]["generated_text"]
    assert generated.startswith("Which connector?") and len(generated) > len("Which connector?")
    reply = chat.predict({"messages": [{"role": "user", "content": "Which connector?"}], "max_tokens": 4})[0]
    assert reply["model"] == "slm-ev" and reply["usage"]["completion_tokens"] > 0
    assert reply["choices"][0]["message"]["role"] == "assistant"

    # the server and the champion loader still find the files on disk through the `bundle` tag
    served = resolve_served_model(DOMAIN, alias="champion", tracking_uri=tracking.tracking_uri)
    assert (served.version, served.gguf_path, served.merged_dir) == ("1", bundle / "ev-f16.gguf", bundle / "merged")
    assert champion_files(version, str(trained["base"])) == (bundle / "adapter", None, None)


def _artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_a_bundle_that_fails_parity_is_recorded_in_a_run_and_not_registered(tmp_path, trained, tracking):
    spec = _spec(trained["base"])
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "benchmark.md").write_text("# Benchmark\n")
    report = json.loads((trained["benchmark"] / "report.json").read_text())
    built = BuiltBundle(bundle=bundle, merged=bundle / "merged", best="lora_adapter", report=report,
                        ggufs={"q8_0": {"path": str(bundle / "ev-q8_0.gguf"), "bytes": 1000, "sha256": "0" * 64}},
                        parity={"q8_0": {"passed": False, "max_logit_diff": 9.5}})
    published = publish_bundle(tracking, spec, built, _manifest(bundle, "dagster-run-2"), LINEAGE_TAGS,
                               "dagster-run-2")
    assert published.version is None and not published.promoted and "parity failed" in published.why
    client = tracking.client()
    run = client.get_run(published.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["registered"] == "no: parity failed"
    assert run.data.metrics["parity.q8_0.passed"] == 0.0
    assert {"benchmark/report.json", "lineage/manifest.json"} <= _artifact_paths(client, run.info.run_id)
    assert not client.search_registered_models()


def test_gguf_export_registers_a_version_from_its_run_and_lineage_lists_that_run(project, trained):  # noqa: F811
    """The asset end to end on a real warehouse: data assets materialised by Dagster, then gguf_export on a
    LoRA adapter and a benchmark folder as the training and benchmark assets leave them."""
    import yaml

    from slm_assets.artifacts import publish_latest
    from slm_assets.defs.export import gguf_export
    from slm_assets_tests.lineage_project import DOMAIN as LINEAGE_DOMAIN
    from slm_assets_tests.lineage_project import build, cli

    data_run = build(project)
    domain_file = next(Path(project["resources"]["domains"].domains_dir).glob("*.yaml"))
    spec = yaml.safe_load(domain_file.read_text())
    spec["export"] = {"quantizations": ["f16"], "parity_prompts": 2, "parity_max_new_tokens": 4}
    domain_file.write_text(yaml.safe_dump(spec))
    warehouse = project["resources"]["warehouse"]
    for kind in ("lora", "benchmark"):
        shutil.copytree(trained[kind], warehouse.artifacts(LINEAGE_DOMAIN, kind, "run-test"), dirs_exist_ok=True)
        publish_latest(warehouse.artifacts(LINEAGE_DOMAIN, kind, "run-test"))
    spec_base = project["resources"]["domains"].get(LINEAGE_DOMAIN).base_model
    assert Path(spec_base).name == "base_model"  # the adapter was made on a tiny model built the same way

    with dg.DagsterInstance.from_config(str(project["home"])) as instance:
        result = dg.materialize([gguf_export], partition_key=LINEAGE_DOMAIN, instance=instance,
                                resources=project["resources"])
    assert result.success
    metadata = result.asset_materializations_for_node("gguf_export")[0].metadata
    assert metadata["version"].value == "1"
    client = project["resources"]["tracking"].client()
    version = client.get_model_version(f"slm-{LINEAGE_DOMAIN}", "1")
    assert version.run_id == metadata["mlflow_run_id"].value
    assert version.tags["snapshot.sft_dataset"].startswith("sft_dataset-")
    lineage = json.loads(cli("lineage", LINEAGE_DOMAIN, "--version", "1", "--json"))
    export_runs = [r for r in lineage["mlflow_runs"] if r["run_id"] == version.run_id]
    assert export_runs and export_runs[0]["status"] == "FINISHED" and export_runs[0]["dagster_run_id"] == result.run_id
    assert lineage["dagster_runs"]["sft_dataset"] == data_run
