"""The pairwise LLM judge against a local judge server, through the real openai and groq clients."""

import math

import pytest

from slm_assets.evaluate.judge import (
    JudgeVerdictError,
    LLMJudge,
    Verdict,
    judge_rows,
    parse_verdict,
    reconcile,
)
from slm_assets.synth.config import TeacherConfig
from slm_assets.synth.teachers import make_chat_teacher
from slm_assets.testing.judge_server import MALFORMED_MARKER, FakeJudgeServer, sections

GOOD = "The Type 2 connector is the European AC standard."
BAD = "Bananas are rich in potassium."


def _rows(n_good: int, n_equal: int, n_bad: int = 0) -> list[dict]:
    rows = []
    for i in range(n_good):
        rows.append({"question": f"Which connector? ({i})", "reference": GOOD, "tuned_answer": GOOD, "base_answer": BAD})
    for i in range(n_equal):
        rows.append({"question": f"Same answers ({i})", "reference": GOOD, "tuned_answer": BAD, "base_answer": BAD})
    for i in range(n_bad):
        rows.append({"question": f"Worse ({i})", "reference": GOOD, "tuned_answer": BAD, "base_answer": GOOD})
    return rows


def _judge(server: FakeJudgeServer, provider: str = "openai", workers: int = 3) -> LLMJudge:
    base_url = server.url + ("/v1" if provider == "openai" else "")
    config = TeacherConfig(provider=provider, model="judge-model", base_url=base_url, temperature=0.0, max_tokens=200,
                           timeout_s=10, max_retries=0)
    teacher = make_chat_teacher(config, "test-key", "EV charging", seed=0)
    return LLMJudge(teacher, "EV charging", workers=workers)


def test_each_question_is_judged_in_both_orders_and_a_position_biased_judge_gives_only_ties():
    rows = _rows(n_good=3, n_equal=0)
    with FakeJudgeServer(policy="first") as server:
        summary = judge_rows(_judge(server), rows, "tuned", "base")

    assert len(server.requests) == 6
    shown_first = sorted(sections(r["body"])["Answer A"] for r in server.requests)
    assert shown_first == sorted([GOOD, BAD] * 3)  # each answer shown first once per question
    assert (summary["wins"], summary["losses"], summary["ties"]) == (0, 0, 3)
    assert summary["win_rate"] == 0.0 and summary["performance_ratio"] == 1.0
    assert summary["first_position_rate"] == 1.0 and summary["order_consistency"] == 0.0
    assert all(r["tuned_llm_judge"] == "tie" and r["tuned_llm_judge_orders"] == "A|A" for r in rows)


def test_consistent_preferences_win_and_lose_and_explicit_ties_count_as_ties():
    rows = _rows(n_good=3, n_equal=2, n_bad=1)
    with FakeJudgeServer(policy="reference") as server:
        summary = judge_rows(_judge(server), rows, "tuned", "base")

    assert summary["judge"] == "llm_judge:openai:judge-model"
    assert (summary["wins"], summary["losses"], summary["ties"], summary["undecided"]) == (3, 1, 2, 0)
    assert summary["win_rate"] == pytest.approx(3 / 6) and summary["performance_ratio"] == 3.0
    assert summary["order_consistency"] == 1.0 and summary["malformed_verdicts"] == 0
    assert summary["prompt_tokens"] == 12 * 50
    assert [r["tuned_llm_judge"] for r in rows] == ["win"] * 3 + ["tie"] * 2 + ["loss"]
    # the reference is shown to the judge
    assert sections(server.requests[0]["body"])["Reference answer"] == GOOD


def test_malformed_verdicts_are_counted_and_their_pairs_left_undecided():
    rows = _rows(n_good=4, n_equal=0)
    rows[1]["tuned_answer"] = GOOD + " " + MALFORMED_MARKER  # both orders of this pair come back as prose
    with FakeJudgeServer(policy="reference", script=["ok"] * 2) as server:
        summary = judge_rows(_judge(server, workers=1), rows, "tuned", "base")

    assert summary["malformed_verdicts"] == 2
    assert (summary["wins"], summary["undecided"], summary["decided"]) == (3, 1, 3)
    assert summary["win_rate"] == 1.0  # over decided pairs: the malformed pair is not guessed either way
    assert rows[1]["tuned_llm_judge"] == "undecided"
    assert rows[1]["tuned_llm_judge_orders"] == "malformed|malformed"


def test_a_bad_winner_and_a_failed_call_are_recorded_not_guessed():
    rows = _rows(n_good=2, n_equal=0)
    # one worker: requests arrive in order; the first verdict names "C", the third call fails with 500
    with FakeJudgeServer(policy="reference", script=["bad_winner", "ok", "500"]) as server:
        summary = judge_rows(_judge(server, workers=1), rows, "tuned", "base")

    assert summary["malformed_verdicts"] == 1 and summary["failed_calls"] == 1
    assert "500" in summary["first_error"]
    assert summary["decided"] == 0 and summary["win_rate"] is None and summary["performance_ratio"] is None
    assert [r["tuned_llm_judge_orders"] for r in rows] == ["malformed|B", "error|B"]


def test_groq_client_reaches_the_judge_and_names_it():
    rows = _rows(n_good=1, n_equal=0)
    with FakeJudgeServer(policy="reference") as server:
        summary = judge_rows(_judge(server, provider="groq"), rows, "tuned", "base")

    assert summary["judge"] == "llm_judge:groq:judge-model" and summary["wins"] == 1
    assert {r["path"] for r in server.requests} == {"/openai/v1/chat/completions"}
    assert all(r["body"]["temperature"] == 0.0 for r in server.requests)


def test_parse_verdict_accepts_only_the_three_winners():
    assert parse_verdict('```json\n{"winner": "b", "reason": "r"}\n```') == ("B", "r")
    assert parse_verdict('{"winner": "Tie"}') == ("tie", "")
    for bad in ("A is better", '{"winner": "C"}', '{"winner": null}', "[1, 2]", '{"winner": "A"'):
        with pytest.raises(JudgeVerdictError):
            parse_verdict(bad)


def test_reconcile_requires_agreement_across_orders():
    v = Verdict
    assert reconcile(v("A"), v("B")) == "win"
    assert reconcile(v("B"), v("A")) == "loss"
    assert reconcile(v("A"), v("A")) == "tie"  # position bias
    assert reconcile(v("A"), v("tie")) == "tie"
    assert reconcile(v("tie"), v("tie")) == "tie"
    assert reconcile(v(None, malformed=True), v("B")) is None


def test_offline_teacher_gives_no_llm_judge(tmp_path):
    from slm_assets.domains import parse_domain
    from slm_assets.evaluate.judge import domain_llm_judge
    from slm_assets.resources.teacher import TeacherResource

    spec = parse_domain({"name": "ev", "topic": "EV charging"})
    judge, why = domain_llm_judge(TeacherResource(provider_override="offline"), spec)
    assert judge is None and "'offline'" in why

    with FakeJudgeServer() as server:
        spec = parse_domain({"name": "ev", "topic": "EV charging",
                             "teacher": {"provider": "openai", "model": "m", "base_url": server.url + "/v1"}})
        judge, why = domain_llm_judge(TeacherResource(), spec)
        assert why is None and judge.name == "llm_judge:openai:m" and judge.teacher.temperature == 0.0
        assert not math.isnan(judge_rows(judge, _rows(1, 0), "tuned", "base")["win_rate"])


def test_teacher_answers_benchmark_questions_in_order_and_a_failed_call_leaves_it_out(tiny_model):
    """The teacher as a compared model: answers come back in prompt order with their completion tokens; when
    any question fails, evaluate_models leaves the teacher out with a note rather than scoring a partial row."""
    from slm_assets.evaluate.benchmark import evaluate_models, tuned_candidates
    from slm_assets.evaluate.config import BenchmarkConfig
    from slm_assets.evaluate.teacher_answers import TeacherAnswerer, TeacherAnswersFailed
    from slm_assets_tests.evaluate.rows import EV_QUESTIONS, sft_rows

    prompts = [r["prompt"] for r in sft_rows()]
    with FakeJudgeServer(answers=dict(EV_QUESTIONS[:2])) as server:
        answerer = TeacherAnswerer(_judge(server).teacher, max_tokens=32, workers=3)
        answers = answerer(prompts)
    assert [a.text for a in answers] == [EV_QUESTIONS[0][1], EV_QUESTIONS[1][1], "I do not know.", "I do not know."]
    assert all(a.new_tokens == 12 and a.latency_s > 0 for a in answers) and answerer.name == "openai:judge-model"

    with FakeJudgeServer(script=["ok", "500"]) as server:
        answerer = TeacherAnswerer(_judge(server).teacher, max_tokens=32, workers=1)
        with pytest.raises(TeacherAnswersFailed, match="1 of 4 benchmark questions got no answer.*500"):
            answerer(prompts)
        model, tokenizer = tiny_model
        server.script = ["500"]
        result = evaluate_models({"base": model, "lora_adapter": model}, tokenizer, sft_rows(),
                                 BenchmarkConfig(max_new_tokens=3, batch_size=4), answerers={"teacher": answerer})
    assert "teacher" not in result.models and result.external == [] and tuned_candidates(result) == ["lora_adapter"]
    assert any(n.startswith("teacher not compared: teacher openai:judge-model: 1 of 4") for n in result.notes)
