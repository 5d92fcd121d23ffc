"""The generation loop against the fake server: rate-limit pauses, retry-later, the judge, an exact target."""

import duckdb
import pytest

from slm_assets.synth.config import SynthConfig, TeacherConfig
from slm_assets.synth.generate import generate_qa
from slm_assets.synth.store import WarehouseQAStore
from slm_assets.synth.teachers import make_chat_teacher
from slm_assets.testing.teacher_server import FakeTeacherServer
from slm_assets.warehouse import connect
from slm_assets_tests.synth.helpers import chunks


def groq_teacher(url: str, max_retries: int = 1):
    config = TeacherConfig(provider="groq", model="llama-3.3-70b-versatile", base_url=url, temperature=0.7,
                           max_tokens=512, timeout_s=5.0, max_retries=max_retries)
    return make_chat_teacher(config, "test-key", "EV charging", 13)


def accepted_stats(db) -> tuple[int, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute("select count(*), count(distinct qa_id), count(distinct question) from qa_pairs "
                      "where status = 'accepted'").fetchone()
    con.close()
    return row


def test_rate_limit_after_the_clients_retries_pauses_every_call_then_succeeds(tmp_path):
    # two workers, each hit by 429 twice (the client retries once, honouring retry-after: 1)
    config = SynthConfig(n_pairs=6, pairs_per_call=2)
    with FakeTeacherServer(script=["429"] * 4, retry_after="1") as server, connect(tmp_path / "w.duckdb") as con:
        summary = generate_qa("d", chunks(6), groq_teacher(server.url), config, WarehouseQAStore(con, "d"),
                              concurrency=2)
    assert summary.rate_limit_pauses >= 1 and summary.rate_limit_paused_s >= 1.0
    assert summary.accepted_total == 6 and summary.call_errors == 0
    arrivals = [r["at"] for r in server.requests]
    assert arrivals[4] - arrivals[3] >= 1.0  # nothing was sent during the pause
    assert summary.teacher_requests == len(server.requests) - 2  # the client's own retries are not ours


def test_rate_limit_longer_than_allowed_stops_the_run_cleanly(tmp_path):
    config = SynthConfig(n_pairs=6, pairs_per_call=2, max_rate_limit_pause_s=30)
    with FakeTeacherServer(script=["429"], retry_after="3600") as server, connect(tmp_path / "w.duckdb") as con:
        summary = generate_qa("d", chunks(6), groq_teacher(server.url, max_retries=0), config,
                              WarehouseQAStore(con, "d"))
    assert "rate limited" in summary.stopped_because and summary.calls_made == 0
    assert len(server.requests) == 1


def test_a_failed_unit_is_retried_once_after_a_pause_and_otherwise_left_for_the_next_run(tmp_path):
    config = SynthConfig(n_pairs=100, pairs_per_call=2, retry_pause_s=0.3)
    db = tmp_path / "w.duckdb"
    # one chunk, six templates: the first unit's first call fails (the client does not retry here)
    with FakeTeacherServer(failing_units=1, failures_per_unit=1) as server, connect(db) as con:
        summary = generate_qa("d", chunks(1), groq_teacher(server.url, max_retries=0), config,
                              WarehouseQAStore(con, "d"))
        first = server.requests[0]["fingerprint"]
        tries = [r for r in server.requests if r["fingerprint"] == first]
        assert len(tries) == 2 and tries[1]["at"] - tries[0]["at"] >= 0.3
        assert (summary.call_errors, summary.units_retried, summary.units_failed, summary.calls_made) == (1, 1, 0, 6)
    # failing on the retry too: not stored, so the next run calls it again
    with FakeTeacherServer(failing_units=1, failures_per_unit=2) as server, connect(tmp_path / "w2.duckdb") as con:
        teacher = groq_teacher(server.url, max_retries=0)
        failed = generate_qa("d", chunks(1), teacher, config, WarehouseQAStore(con, "d"))
        assert (failed.units_failed, failed.calls_made) == (1, 5) and "1 units failed twice" in failed.stopped_because
        again = generate_qa("d", chunks(1), teacher, config, WarehouseQAStore(con, "d"))
        assert (again.calls_made, again.calls_skipped) == (1, 5)


@pytest.mark.parametrize("concurrency", [4])
def test_concurrent_generation_stops_exactly_at_the_target(tmp_path, concurrency):
    db = tmp_path / "w.duckdb"
    with FakeTeacherServer(delay_s=0.05) as server, connect(db) as con:
        store = WarehouseQAStore(con, "d")
        teacher = groq_teacher(server.url)
        summary = generate_qa("d", chunks(12), teacher, SynthConfig(n_pairs=7, pairs_per_call=2), store,
                              concurrency=concurrency)
        assert summary.accepted_total == 7 and summary.reject_reasons["target_reached"] >= 1
        more = generate_qa("d", chunks(12), teacher, SynthConfig(n_pairs=11, pairs_per_call=2), store,
                           concurrency=concurrency)
        assert more.accepted_total == 11 and more.calls_skipped >= summary.calls_made
        reasons = con.execute("select count(*) from qa_pairs where reject_reason = 'target_reached'").fetchone()[0]
        all_rows, all_ids = con.execute("select count(*), count(distinct qa_id) from qa_pairs").fetchone()
    assert accepted_stats(db) == (11, 11, 11)
    assert reasons >= 2 and all_rows == all_ids
    prompt, completion = summary.prompt_tokens, summary.completion_tokens
    assert prompt > 0 and summary.estimated_cost_usd == pytest.approx((prompt * 0.59 + completion * 0.79) / 1e6)


def test_judge_rejects_subtly_wrong_answers_that_pass_the_lexical_gate(tmp_path):
    config = SynthConfig(n_pairs=4, pairs_per_call=2, judge_groundedness=True)
    # requests in order: generate (numbers changed), its judge, generate (off topic: no judge call), generate, judge...
    with FakeTeacherServer(script=["subtly_wrong", "ok", "off_topic"]) as server, connect(tmp_path / "w.duckdb") as con:
        summary = generate_qa("d", chunks(6), groq_teacher(server.url), config, WarehouseQAStore(con, "d"))
        rows = con.execute("select status, reject_reason, answer, chunk_id from qa_pairs").fetchall()
    kinds = [r["kind"] for r in server.requests]
    assert kinds[:5] == ["generate", "judge", "generate", "generate", "judge"]
    assert summary.reject_reasons["judge_unsupported"] == 2 and summary.reject_reasons["ungrounded"] == 1
    assert summary.accepted_total == 4 and summary.judge_calls == summary.calls_made - 1
    text = {c.chunk_id: c.text for c in chunks(6)}
    verbatim: dict[tuple, set[bool]] = {}  # (status, reason) -> is the answer verbatim in its chunk?
    for status, reason, answer, chunk_id in rows:
        verbatim.setdefault((status, reason), set()).add(answer in text[chunk_id])
    assert verbatim[("rejected", "judge_unsupported")] == {False}  # a number was changed
    assert verbatim[("accepted", None)] == {True}
    assert verbatim[("rejected", "ungrounded (support 0.00 < 0.5)")] == {False}
    assert summary.teacher_requests == len(server.requests)
