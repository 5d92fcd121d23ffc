"""resolve_served_model against MLflow on SQLite: alias, version number, and clear errors."""

import shutil

import pytest
from mlflow.tracking import MlflowClient

from slm_assets.export.modelfile import write_modelfile
from slm_assets.export.registry import register_version
from slm_assets.serve.registry_loader import (
    ServedModelNotFound,
    modelfile_system_prompt,
    resolve_served_model,
)

SYSTEM = 'You are a concise expert assistant on "tiny" models.\nAnswer in one sentence.'


@pytest.fixture
def registry(tmp_path, tiny_gguf):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    bundle = tmp_path / "artifacts" / "tiny" / "export" / "run-1234abcd"
    bundle.mkdir(parents=True)
    shutil.copy(tiny_gguf, bundle / "tiny-q8_0.gguf")
    (bundle / "merged").mkdir()
    (bundle / "merged" / "config.json").write_text("{}")
    write_modelfile("tiny-q8_0.gguf", bundle, SYSTEM)
    tags = {"bundle": str(bundle), "best_model": "lora_adapter", "dagster.partition": "tiny",
            "code_version": "abc", "base_model": "bundled:smollm2-135m-instruct"}
    return uri, client, bundle, tags


def test_champion_alias_and_version_number(registry):
    uri, client, bundle, tags = registry
    v1 = register_version(client, "slm-tiny", bundle.as_uri(), None, tags)
    client.set_registered_model_alias("slm-tiny", "champion", v1)
    register_version(client, "slm-tiny", bundle.as_uri(), None, tags)  # v2 becomes candidate only

    champion = resolve_served_model("tiny", tracking_uri=uri)
    assert (champion.name, champion.version) == ("slm-tiny", "1")
    assert champion.gguf_path == bundle / "tiny-q8_0.gguf" and champion.merged_dir == bundle / "merged"
    assert champion.system_prompt == SYSTEM
    assert champion.base_model == "bundled:smollm2-135m-instruct"
    assert resolve_served_model("tiny", alias="candidate", tracking_uri=uri).version == "2"
    assert resolve_served_model("tiny", version=2, tracking_uri=uri).version == "2"


def test_missing_alias_version_and_model_are_clear_errors(registry):
    uri, client, bundle, tags = registry
    with pytest.raises(ServedModelNotFound, match="no registered model 'slm-tiny'"):
        resolve_served_model("tiny", tracking_uri=uri)
    register_version(client, "slm-tiny", bundle.as_uri(), None, tags)
    with pytest.raises(ServedModelNotFound, match=r"no alias 'champion' \(aliases: candidate -> v1; versions: \[1\]"):
        resolve_served_model("tiny", tracking_uri=uri)
    with pytest.raises(ServedModelNotFound, match=r"no version 7; versions: \[1\]"):
        resolve_served_model("tiny", version=7, tracking_uri=uri)


def test_modelfile_system_prompt_reads_single_and_multi_line_values(tmp_path):
    write_modelfile("m.gguf", tmp_path, "One line with \"quotes\" and {braces}")
    assert modelfile_system_prompt(tmp_path / "Modelfile") == "One line with \"quotes\" and {braces}"
    write_modelfile("m.gguf", tmp_path, SYSTEM)
    assert modelfile_system_prompt(tmp_path / "Modelfile") == SYSTEM
    assert modelfile_system_prompt(tmp_path / "missing") is None


def test_a_bundle_serves_q4_k_m_before_larger_files_and_any_gguf_before_none(tmp_path):
    from slm_assets.artifacts import served_gguf

    assert served_gguf(tmp_path) is None
    (tmp_path / "ev-custom.gguf").write_bytes(b"GGUF")
    assert served_gguf(tmp_path) == tmp_path / "ev-custom.gguf"  # a type the preference does not name
    for qtype in ("f16", "q8_0", "q4_k_m"):
        (tmp_path / f"ev-{qtype}.gguf").write_bytes(b"GGUF")

    assert served_gguf(tmp_path) == tmp_path / "ev-q4_k_m.gguf"
    (tmp_path / "ev-q4_k_m.gguf").unlink()
    assert served_gguf(tmp_path) == tmp_path / "ev-q8_0.gguf"
