"""Chaos: `kill -9` of `slm-assets materialize` inside an asset, then the same command again.

For raw_docs and synthetic_qa_5000 of a smoke-sized domain: the killed run leaves no process behind,
the next command marks it failed (one line) and completes, and the warehouse ends with the same
documents and the same accepted QA pairs as an uninterrupted run, without duplicated rows.
The kills land at known points, whatever the machine's speed: raw_docs while the crawler waits for a page
that the test's web server holds, synthetic_qa_5000 while the teacher (the real groq client against a
local server) waits for its fourth answer, after three were stored.
Set SLM_CHAOS_REPORT=path.json to record where each kill landed and how long recovery took.
"""

import json
import os
from pathlib import Path

import duckdb
import pytest

from slm_assets.testing.teacher_server import FakeTeacherServer
from slm_assets.testing.web_site import start_site
from slm_assets_tests.chaos_runs import Workspace, kill_inside, recovery_line
from slm_assets_tests.helpers import tiny_corpus

pytestmark = pytest.mark.slow
SELECT = "raw_docs clean_chunks synthetic_qa_5000"


def crawl_workspace(root: Path, corpus: Path, models_cache: Path, page_url: str, teacher_url: str) -> Workspace:
    """The corpus folder and one crawled page; the teacher is the real groq client against `teacher_url`."""
    sources = {"folders": [str(corpus)],
               "crawl": {"seed_urls": [page_url], "max_depth": 0, "delay_s": 0,
                         "allowed_private_networks": ["127.0.0.1/32"]}}
    # n_pairs above what the corpus yields: every chunk is asked, so both workspaces end with the same pairs
    return Workspace(root, models_cache, [], env={"GROQ_API_KEY": "gsk_test_chaos"}, sources=sources,
                     synth={"n_pairs": 5000}, teacher={"provider": "groq", "model": "llama-3.3-70b-versatile",
                                                       "base_url": teacher_url, "max_retries": 0})


def warehouse_rows(workspace: Workspace) -> dict:
    with duckdb.connect(str(workspace.warehouse / "slm.duckdb"), read_only=True) as con:
        def query(sql: str) -> list:
            return con.execute(sql).fetchall()

        return {
            "documents": query("select doc_id from raw_documents order by doc_id"),
            "document_rows": query("select count(*) from raw_documents")[0][0],
            "qa": query("select qa_id, question, answer from qa_pairs where status = 'accepted' order by qa_id"),
            "qa_rows": query("select count(*), count(distinct qa_id) from qa_pairs")[0],
            "call_rows": query("select count(*), count(distinct call_key) from teacher_calls")[0],
        }


@pytest.fixture
def servers():
    site, server = start_site()
    with FakeTeacherServer() as teacher:
        yield site, teacher
        site.release.set()
    server.close()


def test_kill_inside_assets_then_run_again(tmp_path, models_cache, servers):
    site, teacher = servers
    corpus = tiny_corpus(tmp_path / "corpus", n_html=4, n_pdf=1)
    urls = site.url("/held.html"), teacher.url
    reference = crawl_workspace(tmp_path / "reference", corpus, models_cache, *urls)
    _output, reference_s = reference.run(SELECT)
    expected = warehouse_rows(reference)
    assert len(expected["documents"]) == 6 and len(expected["qa"]) > 10

    chaos = crawl_workspace(tmp_path / "chaos", corpus, models_cache, *urls)
    report = []
    # synthetic_qa_5000 first: once its pairs are stored, a later run asks the teacher nothing new
    for step in ("synthetic_qa_5000", "raw_docs"):
        if step == "raw_docs":
            site.hold = True
            killed = kill_inside(chaos, SELECT, step, lambda _: site.holding.is_set(), "waiting on a held request")
            site.hold = False
            site.release.set()
        else:
            teacher.hold_after = len(teacher.requests) + 3
            killed = kill_inside(chaos, SELECT, step, lambda _: teacher.holding.is_set(), "waiting on a held request")
            teacher.hold_after = None
            teacher.release.set()
        output, recovery_s = chaos.run(SELECT)
        recovery_line(output, killed["run_id"])
        rows = warehouse_rows(chaos)
        assert rows["documents"] == expected["documents"]
        assert rows["document_rows"] == len(expected["documents"])
        assert rows["qa"] == expected["qa"]  # the same accepted pairs as the uninterrupted run
        assert rows["qa_rows"][0] == rows["qa_rows"][1] and rows["call_rows"][0] == rows["call_rows"][1]
        report.append({**killed, "recovered": True, "recovery_run_s": round(recovery_s, 1), "rows_lost": 0,
                       "orphans": 0})
    with chaos.instance() as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
        assert statuses == ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    if os.environ.get("SLM_CHAOS_REPORT"):
        Path(os.environ["SLM_CHAOS_REPORT"]).write_text(json.dumps(
            {"uninterrupted_run_s": round(reference_s, 1), "kills": report,
             "qa_accepted": len(expected["qa"]), "documents": len(expected["documents"])}, indent=2))
