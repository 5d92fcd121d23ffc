"""LLM teachers through the real groq and openai clients against a local server, and resumable generation."""

import duckdb
import pytest

from slm_assets.synth.config import SynthConfig, TeacherConfig
from slm_assets.synth.generate import generate_qa
from slm_assets.synth.store import WarehouseQAStore
from slm_assets.synth.teachers import make_chat_teacher
from slm_assets.teacher_client.client import TeacherError
from slm_assets.testing.teacher_server import FakeTeacherServer
from slm_assets.warehouse import connect
from slm_assets_tests.synth.helpers import chunks


def groq_teacher(url: str, max_retries: int = 2):
    config = TeacherConfig(provider="groq", model="llama-3.3-70b-versatile", base_url=url, temperature=0.7,
                           max_tokens=512, timeout_s=5.0, max_retries=max_retries)
    return make_chat_teacher(config, "test-key", "EV charging", 13)


def test_groq_client_reaches_the_server_with_the_key_and_gets_grounded_pairs():
    with FakeTeacherServer() as server:
        result = groq_teacher(server.url).generate(chunks(1)[0], _template(), 2)
    assert server.requests[0]["path"] == "/openai/v1/chat/completions"
    assert server.requests[0]["auth"] == "Bearer test-key"
    assert "EV charging" in server.requests[0]["body"]["messages"][0]["content"]
    assert len(result.pairs) == 2 and result.prompt_tokens > 0 and not result.invalid


def test_openai_compatible_teacher_uses_its_base_url():
    with FakeTeacherServer() as server:
        teacher = make_chat_teacher(TeacherConfig(provider="openai", model="llama3.1", base_url=server.url + "/v1",
                                                  temperature=0.2, max_tokens=256, timeout_s=5.0, max_retries=0),
                                    None, "EV charging", 1)
        result = teacher.generate(chunks(1)[0], _template(), 2)
    assert server.requests[0]["path"] == "/v1/chat/completions" and len(result.pairs) == 2


def test_rate_limit_with_retry_after_is_retried_by_the_client():
    with FakeTeacherServer(script=["429", "500", "ok"], retry_after="0.05") as server:
        result = groq_teacher(server.url).generate(chunks(1)[0], _template(), 2)
    assert len(server.requests) == 3 and len(result.pairs) == 2


def test_persistent_errors_raise_a_named_teacher_error():
    with FakeTeacherServer(script=["500"] * 5) as server, pytest.raises(TeacherError, match="status 500"):
        groq_teacher(server.url, max_retries=1).generate(chunks(1)[0], _template(), 2)


def test_invalid_json_is_repaired_once_then_recorded():
    with FakeTeacherServer(script=["invalid_json", "ok"]) as server:
        repaired = groq_teacher(server.url).generate(chunks(1)[0], _template(), 2)
    assert len(repaired.pairs) == 2 and repaired.invalid and "repair" not in repaired.invalid[0]
    assert "not valid" in server.requests[1]["body"]["messages"][-1]["content"]
    with FakeTeacherServer(script=["truncated", "invalid_json"]) as server:
        failed = groq_teacher(server.url).generate(chunks(1)[0], _template(), 2)
    assert failed.pairs == [] and len(failed.invalid) == 2


def test_generation_persists_rejects_off_topic_and_resumes_without_repeating_calls(tmp_path):
    db = tmp_path / "w.duckdb"
    config = SynthConfig(n_pairs=6, pairs_per_call=2)
    with FakeTeacherServer(script=["off_topic"]) as server, connect(db) as con:
        store = WarehouseQAStore(con, "d")
        first = generate_qa("d", chunks(2), groq_teacher(server.url), config, store)
        calls_after_first = len(server.requests)
        assert first.reject_reasons["ungrounded"] == 1
        generate_qa("d", chunks(6), groq_teacher(server.url), config, store)
        third = generate_qa("d", chunks(6), groq_teacher(server.url), config, store)
        assert third.calls_made == 0 and "already reached" in third.stopped_because
        total_requests = len(server.requests)
    assert calls_after_first == first.calls_made > 0
    con = duckdb.connect(str(db), read_only=True)
    stored_calls, distinct_calls = con.execute("select count(*), count(distinct call_key) from teacher_calls").fetchone()
    assert stored_calls == distinct_calls == total_requests  # every call made exactly once, none repeated
    accepted = con.execute("select count(*), count(distinct question) from qa_pairs where status = 'accepted'").fetchone()
    rejected = con.execute("select reject_reason from qa_pairs where status = 'rejected'").fetchall()
    con.close()
    assert accepted == (6, 6)
    assert any(r[0].startswith("ungrounded") for r in rejected)


def test_token_budget_stops_cleanly_with_partial_progress(tmp_path):
    config = SynthConfig(n_pairs=100, pairs_per_call=2, token_budget=150)
    with FakeTeacherServer() as server, connect(tmp_path / "w.duckdb") as con:
        summary = generate_qa("d", chunks(20), groq_teacher(server.url), config, WarehouseQAStore(con, "d"))
    assert "token budget" in summary.stopped_because and 0 < summary.accepted_total < 100


def _template():
    from slm_assets.synth.prompts import TEMPLATES

    return TEMPLATES[0]
