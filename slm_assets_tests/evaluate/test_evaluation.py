"""A whole evaluation on a tiny model: deterministic numbers, the report's files and fields."""

import csv
import json

from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.judge import LLMJudge
from slm_assets.evaluate.report import flat_metrics
from slm_assets.evaluate.run import EvaluationRequest, run_evaluation
from slm_assets.synth.config import TeacherConfig
from slm_assets.synth.teachers import make_chat_teacher
from slm_assets.testing.judge_server import FakeJudgeServer
from slm_assets_tests.evaluate.rows import sft_rows

CONFIG = BenchmarkConfig(max_questions=4, max_new_tokens=6, batch_size=2, latency_prompts=2,
                         latency_max_new_tokens=4, latency_gguf=False)
SCORES = ("rouge_l", "bleu", "exact_match", "token_f1", "semantic_similarity", "groundedness", "perplexity")


def test_identical_inputs_give_identical_numbers(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    config = CONFIG.model_copy(update={"latency_prompts": 0})
    texts = {f"c{i}": "Type 2 connectors carry AC power in Europe." for i in range(4)}

    runs = [run_evaluation(EvaluationRequest({"base": model, "tuned": model}, tokenizer, sft_rows(), config, tmp_path / str(i), "t",
                                             chunk_texts=texts)) for i in range(2)]

    first, second = (r.result for r in runs)
    for name in ("base", "tuned"):
        assert {s: getattr(first.models[name], s) for s in SCORES} == {s: getattr(second.models[name], s) for s in SCORES}
    assert [r["tuned_answer"] for r in first.rows] == [r["tuned_answer"] for r in second.rows]
    assert first.judge == second.judge and runs[0].gate == runs[1].gate


def test_report_carries_judges_latency_and_plots(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    with FakeJudgeServer(policy="first") as server:
        teacher = make_chat_teacher(TeacherConfig(provider="openai", model="judge-model", base_url=server.url + "/v1",
                                                  temperature=0.0, max_tokens=200, timeout_s=10, max_retries=0),
                                    None, "EV charging", 0)
        evaluation = run_evaluation(EvaluationRequest({"base": model, "tuned": model}, tokenizer, sft_rows(), CONFIG, tmp_path, "tiny",
                                    judge=LLMJudge(teacher, "EV charging"),
                                    sources={"base": "tiny", "tuned": "tiny"}))

    report = json.loads((tmp_path / "report.json").read_text())
    assert {"models", "primary_metric", "best_model", "improvement_over_base", "judge", "llm_judge", "latency",
            "sources", "notes"} <= set(report)
    assert report["best_model"] == "tuned" and report["primary_metric"] == "rouge_l"
    assert report["judge"]["tuned"]["judge"] == "reference_f1"
    llm = report["llm_judge"]["tuned"]
    assert llm["judge"] == "llm_judge:openai:judge-model" and llm["ties"] == 4 and llm["pairs"] == 4
    assert set(report["latency"]["runs"]) == {"hf_batch1", "hf_batch2"}
    assert "gguf_skipped" in report["latency"]
    assert (tmp_path / "metrics.png").stat().st_size > 1000 and (tmp_path / "latency.png").stat().st_size > 1000
    md = (tmp_path / "report.md").read_text()
    assert "llm_judge:openai:judge-model" in md and "## Latency and throughput" in md and "reference_f1" in md
    with (tmp_path / "per_question.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["tuned_llm_judge"] == "tie" and rows[0]["tuned_llm_judge_orders"] == "A|A"
    flat = flat_metrics(evaluation.result)
    assert "tuned.llm_judge.win_rate" in flat and "latency.hf_batch1.ttft_p50_s" in flat
    assert "tuned.reference_f1.win_rate" in flat


def test_without_an_llm_teacher_the_report_says_why(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    config = CONFIG.model_copy(update={"latency_prompts": 0})
    evaluation = run_evaluation(EvaluationRequest({"base": model, "tuned": model}, tokenizer, sft_rows()[:2], config, tmp_path, "t",
                                judge_skipped="the domain's teacher is 'offline'"))

    assert evaluation.result.llm_judge == {} and evaluation.result.latency is None
    md = (tmp_path / "report.md").read_text()
    assert "No LLM judge: the domain's teacher is 'offline'" in md and "Pairwise LLM judge" not in md
    assert not (tmp_path / "latency.png").exists()


def test_reference_perplexity_can_be_switched_off_without_changing_the_answers(tiny_model):
    import math

    from slm_assets.evaluate.benchmark import evaluate_models

    model, tokenizer = tiny_model
    config = CONFIG.model_copy(update={"latency_prompts": 0})
    on = evaluate_models({"base": model}, tokenizer, sft_rows(), config)
    off = evaluate_models({"base": model}, tokenizer, sft_rows(), config.model_copy(update={"reference_perplexity": False}))
    assert math.isfinite(on.models["base"].perplexity) and math.isnan(off.models["base"].perplexity)
    assert [r["base_answer"] for r in on.rows] == [r["base_answer"] for r in off.rows]
