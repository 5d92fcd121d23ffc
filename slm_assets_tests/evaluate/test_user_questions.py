"""User-supplied questions: validation that names file and line, the latest model, the CLI and the Dagster job."""

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from slm_assets.evaluate.user_questions import (
    NoTrainedModel,
    QuestionsError,
    latest_model,
    read_questions,
    to_test_rows,
)
from slm_assets.testing.judge_server import FakeJudgeServer
from slm_assets.testing.tiny_models import save_random_lora_adapter

GOOD = [
    {"question": "Which connector do European AC chargers use?", "answer": "The Type 2 connector.",
     "context": "Type 2 (Mennekes) is the European standard connector for AC charging."},
    {"question": "What does CCS stand for?", "answer": "Combined Charging System.",
     "evidence": ["CCS, the Combined Charging System, adds DC pins below a Type 2 inlet."]},
    {"question": "What is load management?", "answer": "Sharing grid power between charge points."},
]


def _jsonl(path: Path, rows: list, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_file_becomes_benchmark_rows_with_context_shown_and_evidence_kept(tmp_path):
    questions = read_questions(_jsonl(tmp_path / "q.jsonl", GOOD, ("",)))
    rows, texts = to_test_rows(questions, "You answer questions about EV charging.", "q.jsonl")

    assert [r["qa_id"] for r in rows] == ["line-00001", "line-00002", "line-00003"]
    assert "Mennekes" in rows[0]["prompt"][-1]["content"] and rows[0]["mode"] == "open_book"
    assert rows[1]["prompt"][-1]["content"] == GOOD[1]["question"]  # evidence is not shown to the model
    assert set(texts) == {"line-00001", "line-00002"} and rows[2]["chunk_id"] is None
    assert rows[1]["completion"][0]["content"] == "Combined Charging System."


@pytest.mark.parametrize("lines,message", [
    (['{"question": "q", "answer": "a"}', "not json at all"], r"q\.jsonl:2: not valid JSON"),
    (['{"question": "q"}'], r"q\.jsonl:1: missing or empty `answer`"),
    (['{"answer": "a", "question": "  "}'], r"q\.jsonl:1: missing or empty `question`"),
    (['["q", "a"]'], r"q\.jsonl:1: expected a JSON object"),
    (['{"question": "q", "answer": "a", "context": 3}'], r"q\.jsonl:1: `context` must be a string or a list"),
    (["", "   "], r"q\.jsonl: no questions"),
])
def test_bad_input_names_the_file_and_line(tmp_path, lines, message):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(QuestionsError, match=message):
        read_questions(path)


def test_every_bad_line_is_listed_and_a_missing_file_is_named(tmp_path):
    path = _jsonl(tmp_path / "q.jsonl", GOOD, ("{oops", '{"question": "only"}'))
    with pytest.raises(QuestionsError) as caught:
        read_questions(path)
    assert f"{path}:4: not valid JSON" in str(caught.value) and f"{path}:5: missing or empty" in str(caught.value)
    with pytest.raises(QuestionsError, match="nowhere.jsonl: no such file"):
        read_questions(tmp_path / "nowhere.jsonl")


def test_latest_model_prefers_the_newest_bundle_then_the_adapter(tmp_path):
    with pytest.raises(NoTrainedModel, match="materialise lora_adapter"):
        latest_model(tmp_path, "ev")
    adapter = tmp_path / "ev" / "lora" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    assert latest_model(tmp_path, "ev").kind == "adapter"
    for i, name in enumerate(["run-bbbb", "run-aaaa"]):  # run-aaaa written later: newer despite its name
        merged = tmp_path / "ev" / "export" / name / "merged"
        merged.mkdir(parents=True)
        (merged / "config.json").write_text("{}")
        (merged.parent / "ev-q8_0.gguf").write_bytes(b"GGUF")
        (merged.parent / "manifest.json").write_text("{}")
        os.utime(merged.parent / "manifest.json", (1_000_000 + i, 1_000_000 + i))
    latest = latest_model(tmp_path, "ev")
    assert latest.kind == "bundle" and latest.path.parent.name == "run-aaaa"
    assert latest.gguf == latest.path.parent / "ev-q8_0.gguf"


def _domain(tmp_path: Path, base_model: Path) -> Path:
    domains = tmp_path / "domains"
    domains.mkdir()
    (domains / "ev.yaml").write_text(yaml.safe_dump({
        "name": "ev", "topic": "EV charging", "base_model": str(base_model),
        "benchmark": {"max_new_tokens": 4, "batch_size": 2, "latency_prompts": 2, "latency_max_new_tokens": 3,
                      "latency_threads": 1},
    }))
    return domains


def test_cli_eval_scores_base_and_the_latest_bundle(tmp_path, monkeypatch, tiny_smollm2_dir, tiny_smollm2_f16_gguf):
    from slm_assets.cli import app

    bundle = tmp_path / "warehouse" / "artifacts" / "ev" / "export" / "run-0001"
    shutil.copytree(tiny_smollm2_dir, bundle / "merged")
    shutil.copy(tiny_smollm2_f16_gguf, bundle / "ev-f16.gguf")
    (bundle / "manifest.json").write_text("{}")
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("SLM_DOMAINS_DIR", str(_domain(tmp_path, tiny_smollm2_dir)))
    monkeypatch.setenv("SLM_MODELS_CACHE", str(tmp_path / "models"))
    questions = _jsonl(tmp_path / "mine.jsonl", GOOD)
    runner = CliRunner()

    bad = runner.invoke(app, ["eval", "--domain", "ev", "--questions", str(_jsonl(tmp_path / "bad.jsonl", [{"q": 1}]))])
    assert bad.exit_code == 2 and "bad.jsonl:1: missing or empty `question` and `answer`" in bad.output

    result = runner.invoke(app, ["eval", "--domain", "ev", "--questions", str(questions), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["models"]) == {"base", "tuned"} and report["n_questions"] == 3
    assert report["sources"]["tuned"] == str(bundle / "merged")
    # the bundle's GGUF, at batch 1 and batched
    assert set(report["latency"]["runs"]) == {"hf_batch1", "hf_batch2", "gguf_f16_batch1", "gguf_f16_batch2"}
    assert any("No LLM judge" in n for n in report["notes"]) and report["llm_judge"] == {}
    assert report["models"]["tuned"]["groundedness"] >= 0.0  # two of three rows carry a source text
    assert (tmp_path / "out" / "per_question.csv").exists() and (tmp_path / "out" / "latency.png").exists()
    assert "report:" in result.output


def test_dagster_job_evaluates_the_lora_adapter_when_nothing_was_exported(tmp_path, tiny_smollm2_dir, tracking):
    import dagster as dg

    from slm_assets.defs.evaluate_jobs import evaluate_questions
    from slm_assets.resources.domains import DomainsResource
    from slm_assets.resources.teacher import TeacherResource
    from slm_assets.resources.warehouse import WarehouseResource

    warehouse = tmp_path / "warehouse"
    adapter = warehouse / "artifacts" / "ev" / "lora" / "adapter"
    save_random_lora_adapter(tiny_smollm2_dir, adapter, random_weights=False)  # PEFT's start: tuned == base
    questions = _jsonl(tmp_path / "mine.jsonl", GOOD[:2])
    domains = _domain(tmp_path, tiny_smollm2_dir)
    config = yaml.safe_load((domains / "ev.yaml").read_text())
    config["benchmark"]["latency_prompts"] = 0
    # an LLM teacher: it judges tuned vs base and answers the questions itself, as the `teacher` row
    with FakeJudgeServer(answers={GOOD[0]["question"]: GOOD[0]["answer"]}) as server:
        config["teacher"] = {"provider": "openai", "model": "judge-model", "base_url": server.url + "/v1"}
        (domains / "ev.yaml").write_text(yaml.safe_dump(config))
        result = evaluate_questions.execute_in_process(
            run_config={"ops": {"evaluate_questions_op": {"config": {"domain": "ev",
                                                                     "questions_path": str(questions)}}}},
            resources={"warehouse": WarehouseResource(root=str(warehouse), models_cache=str(tmp_path / "models")),
                       "domains": DomainsResource(domains_dir=str(domains)), "teacher": TeacherResource(),
                       "tracking": tracking})
        judged, asked = len(server.judge_requests()), len(server.requests) - len(server.judge_requests())

    assert result.success and (judged, asked) == (4, 2)  # 2 questions x 2 orders; 2 questions to the teacher
    report_path = Path(result.output_for_node("evaluate_questions_op"))
    assert report_path == warehouse / "artifacts" / "ev" / "user_eval" / "mine" / "report.json"
    report = json.loads(report_path.read_text())
    assert report["sources"]["tuned"] == str(adapter) and report["n_questions"] == 2
    assert set(report["models"]) == {"base", "tuned", "teacher"} and report["external_models"] == ["teacher"]
    assert report["llm_judge"]["tuned"]["pairs"] == 2 and "teacher" not in report["llm_judge"]
    assert {"primary_metric", "best_model", "improvement_over_base"} <= set(report)
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    metadata = output.event_specific_data.metadata
    assert metadata["best_model"].value == "tuned"
    run = tracking.client().get_run(metadata["mlflow_run_id"].value)
    assert run.info.status == "FINISHED" and "tuned.rouge_l" in run.data.metrics
    assert isinstance(evaluate_questions, dg.JobDefinition)
