"""The code location loads with exactly the design card's assets, partitioned per domain."""

import dagster as dg

from slm_assets.definitions import defs
from slm_assets.domains import domain_partitions

EXPECTED_ASSETS = {
    "raw_docs", "clean_chunks", "synthetic_qa_5000", "sft_dataset",
    "lora_adapter", "distilled_model", "benchmark_report", "gguf_export",
}


def _repo():
    return defs().get_repository_def()


def test_exactly_the_eight_assets_all_partitioned_by_domain():
    graph = _repo().asset_graph
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def == domain_partitions, key


def test_lineage_edges_follow_the_design_card():
    graph = _repo().asset_graph
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
               for k in graph.get_all_asset_keys()}
    assert parents["raw_docs"] == set()
    assert parents["clean_chunks"] == {"raw_docs"}
    assert parents["synthetic_qa_5000"] == {"clean_chunks"}
    assert parents["sft_dataset"] == {"synthetic_qa_5000"}
    assert parents["lora_adapter"] == {"sft_dataset"}
    assert parents["distilled_model"] == {"lora_adapter"}
    assert parents["benchmark_report"] == {"sft_dataset", "lora_adapter", "distilled_model"}
    assert parents["gguf_export"] == {"benchmark_report"}


def test_blocking_checks_guard_training_and_export():
    repo = _repo()
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    assert ("sft_dataset", "no_benchmark_leakage") in checks
    assert ("benchmark_report", "tuned_beats_base") in checks
    assert ("gguf_export", "gguf_parity") in checks
    blocking = {
        (spec.asset_key.to_user_string(), spec.name)
        for assets_def in repo.assets_defs_by_key.values()
        for spec in assets_def.check_specs if spec.blocking
    }
    assert ("benchmark_report", "tuned_does_not_parrot") in blocking
    # not beating base stops promotion, not registration: the version stays auditable as a candidate
    assert ("benchmark_report", "tuned_beats_base") in checks - blocking


def test_training_assets_run_in_the_gpu_pool():
    repo = _repo()
    pools = {key.to_user_string(): a.node_def.pool for key, a in repo.assets_defs_by_key.items()}
    assert pools["lora_adapter"] == "gpu" and pools["distilled_model"] == "gpu"
    assert pools["raw_docs"] is None


def test_sensor_and_schedule_are_defined():
    repo = _repo()
    assert {s.name for s in repo.sensor_defs} >= {"domain_partitions_sensor"}
    assert {s.name for s in repo.schedule_defs} >= {"weekly_refresh"}
    assert isinstance(repo.get_job("build_domain_model"), dg.JobDefinition)


def test_downstream_assets_follow_new_documents_by_automation_condition():
    graph = _repo().asset_graph
    conditions = {k.to_user_string(): graph.get(k).automation_condition for k in graph.get_all_asset_keys()}
    assert conditions["raw_docs"] is None  # started by the new-documents sensor, the schedule or a person
    for name in ("clean_chunks", "synthetic_qa_5000", "sft_dataset", "lora_adapter", "distilled_model",
                 "benchmark_report", "gguf_export"):
        assert conditions[name] is not None, name
