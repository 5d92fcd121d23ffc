"""benchmark_report re-scores the registered champion from its files, beside the candidates, on the same questions."""

import json
import shutil

import dagster as dg
import yaml

from slm_assets.artifacts import latest_run_dir
from slm_assets.defs.evaluate import benchmark_report
from slm_assets.export.registry import register_version
from slm_assets_tests.evaluate.warehouse import benchmark_warehouse


def _materialise(tmp_path, root, base_dir, tracking, benchmark: dict):
    from slm_assets.resources.domains import DomainsResource
    from slm_assets.resources.teacher import TeacherResource
    from slm_assets.resources.warehouse import WarehouseResource

    domains = tmp_path / "domains"
    domains.mkdir(exist_ok=True)
    (domains / "ev.yaml").write_text(yaml.safe_dump({
        "name": "ev", "topic": "EV charging", "base_model": str(base_dir), "teacher": {"provider": "offline"},
        "benchmark": {"max_new_tokens": 4, "batch_size": 4, "latency_prompts": 0, "llm_judge": False,
                      "compare_teacher": False, "max_echo_rate": 1.0, **benchmark},
    }))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("domain", ["ev"])
        result = dg.materialize([benchmark_report], partition_key="ev", instance=instance, raise_on_error=False,
                                resources={"warehouse": WarehouseResource(root=str(root),
                                                                          models_cache=str(tmp_path / "models")),
                                           "domains": DomainsResource(domains_dir=str(domains)),
                                           "teacher": TeacherResource(provider_override="offline"),
                                           "tracking": tracking})
    report = json.loads((latest_run_dir(root / "artifacts" / "ev" / "benchmark") / "report.json").read_text())
    metadata = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    return report, metadata


def _register_champion(tracking, bundle, base_dir) -> str:
    client = tracking.client()
    version = register_version(client, "slm-ev", bundle.as_uri(), None,
                               {"bundle": str(bundle), "base_model": str(base_dir)})
    client.set_registered_model_alias("slm-ev", "champion", version)
    return version


def test_the_champion_is_rescored_and_a_candidate_that_answers_the_same_is_not_promoted(tmp_path, tiny_smollm2_dir,
                                                                                       tracking):
    root = tmp_path / "warehouse"
    benchmark_warehouse(root, tiny_smollm2_dir)
    lora = root / "artifacts" / "ev" / "lora" / "adapter"
    # both candidates and the champion are the same adapter: same answers, so the difference is exactly zero
    shutil.rmtree(root / "artifacts" / "ev" / "distilled" / "adapter")
    shutil.copytree(lora, root / "artifacts" / "ev" / "distilled" / "adapter")
    bundle = tmp_path / "bundles" / "v-old"
    shutil.copytree(lora, bundle / "adapter")
    version = _register_champion(tracking, bundle, tiny_smollm2_dir)

    report, metadata = _materialise(tmp_path, root, tiny_smollm2_dir, tracking, {"min_improvement": 0.0})

    assert {"champion", "champion_open_book", "champion_served"} <= set(report["models"])
    assert report["best_model"] in {"lora_adapter", "distilled_model"}  # the champion is never a candidate
    assert report["sources"]["champion"].startswith(f"slm-ev v{version}")
    per_question = [line for line in (latest_run_dir(root / "artifacts" / "ev" / "benchmark") / "per_question.csv")
                    .read_text().splitlines()[1:] if line]
    assert len(per_question) == report["n_questions"] == 4  # the same questions, in the same run
    promotion = report["promotion"]
    assert promotion["against"] == f"champion v{version}" and promotion["champion"]["loaded"]
    assert promotion["compared"] == [f"{report['best_model']}_served", "champion_served"]
    assert promotion["interval"] == [0.0, 0.0] and promotion["n_questions"] == 4 and not promotion["passed"]
    assert metadata["promote"].value is False and metadata["promotion_questions"].value == 4
    assert f"champion v{version} re-scored from" in metadata["promotion"].value
    markdown = (latest_run_dir(root / "artifacts" / "ev" / "benchmark") / "report.md").read_text()
    assert "Champion: champion v" in markdown and "95% interval [+0.0000, +0.0000] over 4 questions" in markdown


def test_a_champion_with_missing_files_is_reported_and_the_candidate_is_compared_with_base(tmp_path, tiny_smollm2_dir,
                                                                                          tracking):
    root = tmp_path / "warehouse"
    benchmark_warehouse(root, tiny_smollm2_dir)
    version = _register_champion(tracking, tmp_path / "bundles" / "deleted", tiny_smollm2_dir)

    report, metadata = _materialise(tmp_path, root, tiny_smollm2_dir, tracking, {"min_improvement": -1.0})

    assert "champion" not in report["models"]
    promotion = report["promotion"]
    assert promotion["against"] == "base" and promotion["champion"] == {
        "version": version, "source": None, "loaded": False,
        "problem": promotion["champion"]["problem"]}
    assert "missing files" in promotion["champion"]["problem"]
    assert f"champion v{version} could not be loaded (missing files" in promotion["verdict"]
    assert promotion["passed"] and promotion["compared"] == report["compared"]  # min_improvement -1: beats base
    report_dir = latest_run_dir(root / "artifacts" / "ev" / "benchmark")
    assert "could not be loaded" in (report_dir / "report.md").read_text()


def test_benchmark_dtype_bfloat16_scores_every_model_and_the_champion_in_bf16(tmp_path, tiny_smollm2_dir, tracking):
    root = tmp_path / "warehouse"
    benchmark_warehouse(root, tiny_smollm2_dir)
    bundle = tmp_path / "bundles" / "v-old"
    shutil.copytree(root / "artifacts" / "ev" / "lora" / "adapter", bundle / "adapter")
    _register_champion(tracking, bundle, tiny_smollm2_dir)

    report, _ = _materialise(tmp_path, root, tiny_smollm2_dir, tracking, {"dtype": "bfloat16"})

    models = {"base", "lora_adapter", "distilled_model", "champion"}
    assert models <= set(report["sources"])
    assert all(report["sources"][name].endswith(", in bfloat16") for name in models), report["sources"]
    assert not report["sources"]["bm25_sentence"].endswith("bfloat16")  # no model
    assert report["promotion"]["champion"]["loaded"] and report["n_questions"] == 4

