"""Two model versions, documents changed in between: the old version's lineage never moves, and gc keeps it.

Real parts: the data assets (raw_docs -> clean_chunks -> synthetic_qa_5000 -> sft_dataset) materialised by
Dagster into a temporary DAGSTER_HOME and a DuckDB file, the MLflow registry on SQLite, the `slm-assets
lineage` and `gc` commands. Not real: training (a version's bundle holds a stub adapter file; training is
not what is tested here) and the base model (a tiny random Llama with its own tokenizer, built in a second).
"""

import json
import shutil
from pathlib import Path

from slm_assets_tests.helpers import SAMPLE_HTML
from slm_assets_tests.lineage_project import DATA_ASSETS, DOMAIN, build, cli, project_fixture  # noqa: F401


def register(project, run_id: str) -> str:
    """What gguf_export does after training, with a stub adapter in place of trained weights."""
    from mlflow.tracking import MlflowClient

    from slm_assets.export.bundle import write_bundle_manifest
    from slm_assets.export.registry import register_version

    warehouse = project["resources"]["warehouse"]
    domains = project["resources"]["domains"]
    spec = domains.get(DOMAIN)
    bundle = warehouse.artifacts(DOMAIN, "export", f"run-{run_id[:8]}")
    (bundle / "adapter").mkdir()
    (bundle / "adapter" / "adapter_model.safetensors").write_bytes(b"stub")
    used = {"sft": warehouse.latest_artifacts(DOMAIN, "sft"), "export": bundle}
    with warehouse.connect() as con:
        _, tags = write_bundle_manifest(con, spec, domains.yaml_text(DOMAIN), bundle, used, run_id, "lora_adapter",
                                        warehouse.models_cache_dir)
    uri = f"sqlite:///{project['warehouse'] / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    return register_version(client, f"slm-{DOMAIN}", bundle.as_uri(), None,
                            {**tags, "dagster.run_id": run_id, "bundle": str(bundle)})


def change_documents(corpus: Path) -> tuple[Path, Path, Path]:
    """One document added, one edited, one removed."""
    edited, removed = sorted(corpus.glob("*.html"))[:2]
    added = corpus / "added.html"
    shutil.copy(sorted(SAMPLE_HTML.glob("*.html"))[6], added)
    edited.write_text(edited.read_text().replace("</body>", "<p>Edited after version one: charge points on "
                                                "motorway service areas now report their status every minute, "
                                                "so drivers see free connectors before they arrive.</p></body>"))
    removed.unlink()
    return added, edited, removed


def test_old_version_lineage_is_identical_after_documents_change_and_v2_shows_the_new_document(project):
    run1 = build(project)
    assert register(project, run1) == "1"
    v1_before = cli("lineage", DOMAIN, "--version", "1", "--json")

    added, edited, removed = change_documents(project["corpus"])
    run2 = build(project)
    assert register(project, run2) == "2"
    v1_after = cli("lineage", DOMAIN, "--version", "1", "--json")
    assert v1_after == v1_before

    v1, v2 = json.loads(v1_before), json.loads(cli("lineage", DOMAIN, "--version", "2", "--json"))
    v1_sources, v2_sources = ({link["source"] for link in v["qa_chain"]} for v in (v1, v2))
    assert str(added) in v2_sources and str(added) not in v1_sources
    assert str(removed) in v1_sources and str(removed) not in v2_sources
    assert v1["dagster_runs"]["sft_dataset"] == run1 and v2["dagster_runs"]["sft_dataset"] == run2
    assert {m["asset"] for m in v1["materializations"]} >= set(DATA_ASSETS)
    assert v1["snapshots"]["raw_docs"]["hash"] != v2["snapshots"]["raw_docs"]["hash"]
    assert v1["base_model"]["weights_sha256"] and len(v1["base_model"]["weights_sha256"]) == 64
    assert "synth:" in v1["domain_yaml"] and v1["resolved_settings"]["name"] == DOMAIN
    assert v1["project"]["package"]
    linked = [link for link in v1["qa_chain"] if link["split"] != "test"]
    assert linked and all(link["chunk_id"] and link["doc_id"] and link["source"] for link in linked)
    # the edited document's old text is still what v1's chain points at
    assert {link["doc_id"] for link in v1["qa_chain"] if link["source"] == str(edited)} != \
        {link["doc_id"] for link in v2["qa_chain"] if link["source"] == str(edited)}

    # gc: data no version needs goes (an edit made and reverted after v2); both versions' lineage stays
    original = edited.read_text()
    edited.write_text(original.replace("every minute", "every second"))
    build(project, ["raw_docs", "clean_chunks"])
    edited.write_text(original)
    build(project, ["raw_docs", "clean_chunks"])
    dry = cli("gc", "--domain", DOMAIN, "--keep", "1", "--dry-run")
    assert "would delete snapshot raw_docs-" in dry and "would delete snapshot clean_chunks-" in dry
    v2_before_gc = cli("lineage", DOMAIN, "--version", "2", "--json")
    freed = cli("gc", "--domain", DOMAIN, "--keep", "1")
    assert "deleted snapshot raw_docs-" in freed
    rows = int(freed.split(" rows,")[0].rsplit(" ", 1)[1])
    assert rows > 0
    assert cli("lineage", DOMAIN, "--version", "1", "--json") == v1_before
    assert cli("lineage", DOMAIN, "--version", "2", "--json") == v2_before_gc
    again = cli("gc", "--domain", DOMAIN, "--keep", "1")
    assert "freed: 0 snapshots, 0 rows" in again
