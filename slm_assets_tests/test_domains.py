"""Domain YAML: presets, validation errors that name the file, partition sync."""

import dagster as dg
import pytest

from slm_assets.domains import DomainError, load_domain, load_domains, sync_domain_partitions
from slm_assets.settings import PROJECT_ROOT


def test_shipped_ev_charging_domain_loads_with_the_bundled_model():
    spec = load_domain("ev_charging", PROJECT_ROOT / "domains")
    assert spec.topic == "electric vehicle charging stations"
    assert spec.base_model == "bundled:smollm2-135m-instruct"
    assert spec.synth.n_pairs == 5000
    assert "electric vehicle charging stations" in spec.system_prompt
    assert all(p.exists() for p in spec.folder_paths())


def test_preset_fills_fields_and_explicit_fields_win(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntopic: solar inverters\ntrain: {preset: smoke, max_steps: 9}\n")
    spec = load_domain("a", tmp_path)
    assert spec.train.max_steps == 9 and spec.train.per_device_batch_size == 4
    assert spec.distill.max_steps == 2  # the smoke preset for distillation too


@pytest.mark.parametrize("content, message", [
    ("name: b\ntopic: x\n", "topic"),
    ("name: other\ntopic: heat pumps\n", "differs from the file name"),
    ("name: b\ntopic: heat pumps\nteacher: {provider: carrier-pigeon}\n", "provider"),
    ("name: b\ntopic: heat pumps\ntrain: {backend: unslot}\n", "backend"),
    ("name: b\ntopic: heat pumps\ndistill: {student_init: warm}\n", "student_init"),
    ("[not, a, mapping]\n", "mapping"),
    ("name: b\ntopic: heat pumps\n  bad indent: [\n", "not valid YAML"),
])
def test_bad_domain_files_give_errors_that_name_the_file(tmp_path, content, message):
    (tmp_path / "b.yaml").write_text(content)
    with pytest.raises(DomainError, match=message) as info:
        load_domain("b", tmp_path)
    assert "b.yaml" in str(info.value)


def test_unknown_domain_lists_the_known_ones(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntopic: solar inverters\n")
    with pytest.raises(DomainError, match=r"no domain 'zzz'.*known: a"):
        load_domain("zzz", tmp_path)


def test_partitions_follow_the_yaml_files(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntopic: solar inverters\n")
    (tmp_path / "b.yaml").write_text("name: b\ntopic: heat pumps\n")
    with dg.instance_for_test() as instance:
        assert sync_domain_partitions(instance, tmp_path) == (["a", "b"], [])
        (tmp_path / "a.yaml").unlink()
        assert sync_domain_partitions(instance, tmp_path) == ([], ["a"])
        assert instance.get_dynamic_partitions("domain") == ["b"]
    assert set(load_domains(tmp_path)) == {"b"}
