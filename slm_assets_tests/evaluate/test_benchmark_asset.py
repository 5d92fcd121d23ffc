"""benchmark_report materialised on tiny models: gate, reference and LLM judges, latency with a GGUF, MLflow."""

import json
import math

import dagster as dg
import yaml

from slm_assets.artifacts import latest_run_dir
from slm_assets.defs.evaluate import benchmark_report
from slm_assets.testing.judge_server import FakeJudgeServer
from slm_assets_tests.evaluate.rows import EV_QUESTIONS
from slm_assets_tests.evaluate.warehouse import benchmark_warehouse


def test_benchmark_report_materialises_with_llm_judge_and_latency(tmp_path, tiny_smollm2_dir, tracking):
    from slm_assets.resources.domains import DomainsResource
    from slm_assets.resources.teacher import TeacherResource
    from slm_assets.resources.warehouse import WarehouseResource

    root = tmp_path / "warehouse"
    benchmark_warehouse(root, tiny_smollm2_dir)
    domains = tmp_path / "domains"
    domains.mkdir()
    # the teacher answers every benchmark question with its reference answer: the best scores, yet never promoted
    with FakeJudgeServer(policy="reference", answers=dict(EV_QUESTIONS)) as server:
        (domains / "ev.yaml").write_text(yaml.safe_dump({
            "name": "ev", "topic": "EV charging", "base_model": str(tiny_smollm2_dir),
            "teacher": {"provider": "openai", "model": "judge-model", "base_url": server.url + "/v1"},
            "benchmark": {"max_new_tokens": 4, "batch_size": 4, "latency_prompts": 2, "latency_max_new_tokens": 3,
                          "latency_threads": 1, "min_improvement": 1.0, "max_echo_rate": 1.0},
            "export": {"quantizations": ["f16"]},
        }))
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("domain", ["ev"])
            result = dg.materialize([benchmark_report], partition_key="ev", instance=instance, resources={
                "warehouse": WarehouseResource(root=str(root), models_cache=str(tmp_path / "models")),
                "domains": DomainsResource(domains_dir=str(domains)), "teacher": TeacherResource(),
                "tracking": tracking})
            progress = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("progress ")]
        judged = len(server.judge_requests())
        asked = [r["body"] for r in server.requests if r not in server.judge_requests()]

    assert result.success
    # a progress line per variant (the terminal's bar follows them), each with what was done and its time
    percents = [float(line.split()[1].rstrip("%")) for line in progress]
    assert percents == sorted(percents) and percents[-1] == 100.0 and len(percents) >= 8
    assert any(line.endswith(" s)") and "(lora_adapter_open_book: 4 questions in " in line for line in progress)
    # 4 questions x 2 orders x 2 tuned models (open-book variants and the teacher are not sent to the LLM judge)
    assert judged == 16
    # the teacher got the 4 closed-book prompts, at temperature 0, with the benchmark's answer length
    assert sorted(b["messages"][-1]["content"] for b in asked) == sorted(q for q, _ in EV_QUESTIONS)
    assert {(b["temperature"], b["max_tokens"]) for b in asked} == {(0.0, 4)}
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    # no model can gain 1.0 ROUGE-L over base: the comparison fails as a warning, the echo guard passes, and the run
    # (and so export and registration as a candidate) goes on
    assert not checks["tuned_beats_base"].passed and checks["tuned_beats_base"].severity == dg.AssetCheckSeverity.WARN
    assert "not better than base beyond noise" in checks["tuned_beats_base"].description
    assert checks["tuned_does_not_parrot"].passed and "does not parrot" in checks["tuned_does_not_parrot"].description
    report = json.loads((latest_run_dir(root / "artifacts" / "ev" / "benchmark") / "report.json").read_text())
    assert {"models", "primary_metric", "best_model", "improvement_over_base"} <= set(report)
    assert set(report["llm_judge"]) == {"lora_adapter", "distilled_model"}
    assert report["llm_judge"]["lora_adapter"]["judge"] == "llm_judge:openai:judge-model"
    assert report["judge"]["lora_adapter"]["judge"] == "reference_f1"
    assert set(report["latency"]["runs"]) == {"hf_batch1", "hf_batch2", "gguf_f16_batch1", "gguf_f16_batch2"}
    assert report["latency"]["model"] == report["best_model"]
    teacher = report["models"]["teacher"]
    assert teacher["rouge_l"] == 1.0 and teacher["exact_match"] == 1.0 and math.isnan(teacher["perplexity"])
    assert report["external_models"] == ["teacher", "bm25_sentence"]  # compared, never candidates
    assert report["best_model"] in {"lora_adapter", "distilled_model"}
    assert {"base_served", "lora_adapter_served", "distilled_model_served"} <= set(report["models"])
    # reference perplexity closed book only: open book it would be a second pass over every passage
    assert math.isfinite(report["models"]["base"]["perplexity"])
    assert math.isnan(report["models"]["base_open_book"]["perplexity"])
    assert all(0.0 <= m["echo_rate"] <= 1.0 for m in report["models"].values())
    assert report["sources"]["teacher"] == "openai:judge-model" and "teacher" in report["judge"]
    metadata = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    assert metadata["latency_plot"].value.startswith("![latency](data:image/png;base64,")
    assert metadata["plot"].value.startswith("![metrics](data:image/png;base64,")
    assert "latency/gguf_f16_batch1/ttft_p50_s" in metadata and "lora_adapter/llm_judge/win_rate" in metadata
    assert metadata["latency/gguf_f16_batch2/throughput_tokens_per_s"].value > 0
    run = tracking.client().get_run(metadata["mlflow_run_id"].value)
    assert "latency.hf_batch1.decode_tokens_per_s" in run.data.metrics
    assert "distilled_model.llm_judge.win_rate" in run.data.metrics
