"""Immutable content-addressed snapshots on a real DuckDB file: rows stored once, current views, drafts."""

import json
from datetime import datetime

import duckdb

from slm_assets.snapshots import (
    current_snapshot,
    get_snapshot,
    open_draft,
    seal_draft,
    snapshot_table_sql,
    write_snapshot,
)
from slm_assets.synth.store import WarehouseQAStore
from slm_assets.warehouse import connect, fetch_dicts


def doc(doc_id: str, text: str, domain: str = "d") -> dict:
    return {"domain": domain, "doc_id": doc_id, "source": f"/docs/{doc_id}.md", "source_type": "file", "title": doc_id,
            "text": text, "parser": "markdown", "content_type": None, "language": "en", "http_status": None,
            "etag": None, "last_modified": None, "n_bytes": len(text), "page_count": 2,
            "page_spans": json.dumps([[1, 0, 3], [2, 3, len(text)]]), "metadata": json.dumps({"a": 1}),
            "fetched_at": datetime.now()}


def test_rows_are_stored_once_and_each_snapshot_keeps_its_own_membership(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        first = write_snapshot(con, "d", "raw_docs", {"raw_documents": [doc("a", "alpha"), doc("b", "beta")],
                                                      "ingest_failures": []}, "run-1", [])
        # b edited, c added, a unchanged (read again later: fetched_at differs, still the same row)
        second = write_snapshot(con, "d", "raw_docs", {"raw_documents": [doc("a", "alpha"), doc("b", "beta 2"),
                                                                         doc("c", "gamma")],
                                                       "ingest_failures": []}, "run-2", [])
        write_snapshot(con, "other", "raw_docs", {"raw_documents": [doc("z", "zeta", "other")],
                                                  "ingest_failures": []}, "run-3", [])
        stored = con.execute("select count(*) from raw_documents where domain = 'd'").fetchone()[0]
        current = sorted(r[0] for r in con.execute(
            "select text from current_raw_documents where domain = 'd'").fetchall())
        old = sorted(r["text"] for r in fetch_dicts(con, snapshot_table_sql("raw_documents"), [first.snapshot_id]))
        assert current_snapshot(con, "d", "raw_docs").snapshot_id == second.snapshot_id
        other = [r[0] for r in con.execute("select doc_id from current_raw_documents where domain = 'other'").fetchall()]
    assert stored == 4  # alpha, beta, beta 2, gamma: alpha once although both snapshots hold it
    assert current == ["alpha", "beta 2", "gamma"]
    assert old == ["alpha", "beta"]
    assert other == ["z"]
    assert first.hash != second.hash and first.dagster_run_id == "run-1"


def test_the_same_rows_read_back_from_a_view_give_the_same_hash(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        first = write_snapshot(con, "d", "raw_docs", {"raw_documents": [doc("a", "alpha")], "ingest_failures": []},
                               None, [])
        again = fetch_dicts(con, "select * from current_raw_documents where domain = 'd'")
        second = write_snapshot(con, "d", "raw_docs", {"raw_documents": again, "ingest_failures": []}, None, [])
        stored = con.execute("select count(*) from raw_documents").fetchone()[0]
    assert first.snapshot_id != second.snapshot_id and first.hash == second.hash and stored == 1


def test_a_sealed_snapshot_never_changes_and_a_draft_is_invisible_until_sealed(tmp_path):
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        store = WarehouseQAStore(con, "d", run_id="run-1")
        store.record(_call("k1"), [_pair("q1", "k1")])
        assert con.execute("select count(*) from current_qa_pairs").fetchone()[0] == 0  # still a draft
        sealed = store.seal(parent_ids=["clean_chunks-x"])
        v1_rows = fetch_dicts(con, snapshot_table_sql("qa_pairs"), [sealed.snapshot_id])
        # the next run starts a draft from the sealed rows and adds one
        store = WarehouseQAStore(con, "d", run_id="run-2")
        assert [q for q, _ in store.accepted()] == ["q1"]
        store.record(_call("k2"), [_pair("q2", "k2")])
    # an interrupted run: the draft is resumed by the next connection, not started again
    with connect(db) as con:
        store = WarehouseQAStore(con, "d", run_id="run-3")
        assert sorted(q for q, _ in store.accepted()) == ["q1", "q2"]
        store.reset()
        store.record(_call("k3"), [_pair("q3", "k3")])
        v2 = store.seal(parent_ids=[])
        assert fetch_dicts(con, snapshot_table_sql("qa_pairs"), [sealed.snapshot_id]) == v1_rows
        assert get_snapshot(con, sealed.snapshot_id).hash == sealed.hash
        assert [r[0] for r in con.execute("select qa_id from current_qa_pairs").fetchall()] == ["q3"]
        assert current_snapshot(con, "d", "synthetic_qa_5000").snapshot_id == v2.snapshot_id
        assert open_draft(con, "d", "synthetic_qa_5000", None) != v2.snapshot_id
        seal_draft(con, open_draft(con, "d", "synthetic_qa_5000", None), [])


def test_a_new_template_version_replaces_the_pairs_of_the_old_one_in_the_draft(tmp_path):
    from slm_assets.synth.prompts import Template

    with connect(tmp_path / "w.duckdb") as con:
        store = WarehouseQAStore(con, "d", run_id="run-1")
        store.record(_call("k1"), [_pair("old-rules", "k1")])  # template "t" version "1", offline teacher
        store.record(_call("k2"), [{**_pair("other-template", "k2"), "template_id": "u"}])
        store.record(_call("k3"), [{**_pair("llm-teacher", "k3"), "teacher_provider": "groq"}])
        sealed = store.seal(parent_ids=[])
        store = WarehouseQAStore(con, "d", run_id="run-2")
        assert store.prune_superseded([Template("t", "1", "mixed", "x")], "offline") == 0  # same version: kept
        assert store.prune_superseded([Template("t", "2", "mixed", "x")], "offline") == 1
        assert sorted(qa_id for qa_id, _ in store.accepted()) == ["llm-teacher", "other-template"]
        assert len(fetch_dicts(con, snapshot_table_sql("qa_pairs"), [sealed.snapshot_id])) == 3  # sealed: unchanged


def test_a_warehouse_from_before_snapshots_becomes_each_domains_first_snapshot(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table sft_examples (domain varchar not null, qa_id varchar not null, split varchar not null, "
                "doc_id varchar not null, primary key (domain, qa_id))")
    con.execute("insert into sft_examples values ('d', 'q1', 'train', 'a'), ('d', 'q2', 'test', 'b'), "
                "('e', 'q9', 'val', 'c')")
    con.close()
    with connect(db) as con:
        rows = con.execute("select domain, qa_id, split from current_sft_examples order by 1, 2").fetchall()
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert current_snapshot(con, "e", "sft_dataset") is not None
    assert rows == [("d", "q1", "train"), ("d", "q2", "test"), ("e", "q9", "val")]
    assert "legacy_sft_examples" not in tables


def _call(key: str) -> dict:
    return {"domain": "d", "call_key": key, "chunk_id": "c1", "status": "ok", "detail": None, "prompt_tokens": 1,
            "completion_tokens": 1, "latency_s": 0.1, "created_at": datetime(2026, 1, 1)}


def _pair(qa_id: str, key: str) -> dict:
    return {"domain": "d", "qa_id": qa_id, "status": "accepted", "reject_reason": None, "question": f"What is {qa_id}?",
            "answer": "It is.", "question_type": "factual", "chunk_id": "c1", "doc_id": "a", "source": "/a",
            "page_start": 1, "template_id": "t", "template_version": "1", "teacher_provider": "offline",
            "teacher_model": "m", "temperature": 0.0, "seed": 1, "prompt_tokens": 1, "completion_tokens": 1,
            "latency_s": 0.1, "call_key": key, "created_at": datetime(2026, 1, 1)}


def _legacy_warehouse(db):
    con = duckdb.connect(str(db))
    con.execute("create table sft_examples (domain varchar not null, qa_id varchar not null, split varchar not null, "
                "doc_id varchar not null, primary key (domain, qa_id))")
    con.execute("insert into sft_examples values ('d', 'q1', 'train', 'a')")
    con.close()


def test_a_read_only_open_of_a_warehouse_from_before_snapshots_migrates_it_first(tmp_path):
    db = tmp_path / "w.duckdb"
    _legacy_warehouse(db)
    with connect(db, read_only=True) as con:  # what `slm-assets lineage` and the server do
        assert con.execute("select qa_id, split from current_sft_examples").fetchall() == [("q1", "train")]


def test_a_warehouse_from_before_snapshots_that_cannot_be_written_is_named_and_left_as_it_was(tmp_path, monkeypatch):
    import pytest

    import slm_assets.warehouse as warehouse

    db = tmp_path / "w.duckdb"
    _legacy_warehouse(db)
    real_open = warehouse._open

    def no_write_access(path, read_only, wait_s):  # root ignores file modes: refuse writable opens here instead
        if not read_only:
            raise duckdb.IOException(f'Cannot open file "{path}": Permission denied')
        return real_open(path, read_only, wait_s)

    monkeypatch.setattr(warehouse, "_open", no_write_access)
    with pytest.raises(warehouse.WarehouseNeedsMigration, match=f"{db}.*before versioned snapshots.*write access"):
        with connect(db, read_only=True):
            pass
    monkeypatch.undo()
    assert duckdb.connect(str(db), read_only=True).execute("select count(*) from sft_examples").fetchone() == (1,)
