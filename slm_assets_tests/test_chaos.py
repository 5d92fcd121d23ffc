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
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from slm_assets.processes import die_with_parent_preexec, process_alive
from slm_assets.run_recovery import PID_TAG
from slm_assets.settings import PROJECT_ROOT
from slm_assets.testing.teacher_server import FakeTeacherServer
from slm_assets.testing.web_site import start_site
from slm_assets_tests.helpers import tiny_corpus, write_domain

pytestmark = pytest.mark.slow
SELECT = "raw_docs clean_chunks synthetic_qa_5000"


class Workspace:
    """A domain, a warehouse and a DAGSTER_HOME; runs `slm-assets materialize` as a real process."""

    def __init__(self, root: Path, corpus: Path, models_cache: Path, page_url: str, teacher_url: str) -> None:
        self.home, self.warehouse = root / "dagster_home", root / "warehouse"
        self.home.mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        sources = {"folders": [str(corpus)],
                   "crawl": {"seed_urls": [page_url], "max_depth": 0, "delay_s": 0,
                             "allowed_private_networks": ["127.0.0.1/32"]}}
        # n_pairs above what the corpus yields: every chunk is asked, so both workspaces end with the same pairs
        write_domain(root / "domains", "tiny", [], sources=sources,
                     synth={"n_pairs": 5000}, teacher={"provider": "groq", "model": "llama-3.3-70b-versatile",
                                                       "base_url": teacher_url, "max_retries": 0})
        self.env = {**os.environ, "DAGSTER_HOME": str(self.home), "SLM_DOMAINS_DIR": str(root / "domains"),
                    "SLM_WAREHOUSE_DIR": str(self.warehouse), "SLM_MODELS_CACHE": str(models_cache),
                    "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                    "GROQ_API_KEY": "gsk_test_chaos"}

    def start(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "slm_assets.cli", "materialize", "--domain", "tiny",
                                 "--select", SELECT], env=self.env, cwd=PROJECT_ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent_preexec())

    def run(self) -> tuple[str, float]:
        started = time.monotonic()
        process = self.start()
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
        return output, time.monotonic() - started

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def rows(self) -> dict:
        with duckdb.connect(str(self.warehouse / "slm.duckdb"), read_only=True) as con:
            def query(sql: str) -> list:
                return con.execute(sql).fetchall()

            return {
                "documents": query("select doc_id from raw_documents order by doc_id"),
                "document_rows": query("select count(*) from raw_documents")[0][0],
                "qa": query("select qa_id, question, answer from qa_pairs where status = 'accepted' order by qa_id"),
                "qa_rows": query("select count(*), count(distinct qa_id) from qa_pairs")[0],
                "call_rows": query("select count(*), count(distinct call_key) from teacher_calls")[0],
            }


def _step_events(instance, run_id: str, step: str) -> set[str]:
    return {e.dagster_event.event_type_value for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.step_key == step}


def _kill_inside(workspace: Workspace, step: str, waiting: threading.Event) -> dict:
    """Start the command, SIGKILL it once `waiting` is set (the step waits on a held request); returns where
    the kill landed."""
    process = workspace.start()
    with workspace.instance() as instance:
        deadline = time.monotonic() + 600  # a hang guard
        while time.monotonic() < deadline and process.poll() is None and not waiting.wait(0.2):
            pass
        assert process.poll() is None and waiting.is_set(), f"the run ended before {step} made its held request"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(process.pid)}))
        assert runs, "the killed command started no run"
        run_id = runs[0].run_id
        process.send_signal(signal.SIGKILL)
        process.wait()
        events = _step_events(instance, run_id, step)
        status = instance.get_run_by_id(run_id).status
    assert "STEP_START" in events and "STEP_SUCCESS" not in events
    assert status == dg.DagsterRunStatus.STARTED  # what a kill -9 leaves behind
    # Dagster's compute-log capture (`tail -F` and its `watch_orphans.py` watcher) ends itself within
    # a poll interval of its parent's death; anything else in the group would be an orphan of ours
    killed_at, deadline = time.monotonic(), time.monotonic() + 30
    while (left := [pid for pid in _group_members(process.pid) if process_alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"processes of the killed run still alive 30 s later: {left}"
    return {"asset": step, "killed_while": "waiting on a held request", "run_id": run_id,
            "group_empty_after_s": round(time.monotonic() - killed_at, 1)}


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5: process group
            members.append(int(stat.parent.name))
    return members


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
    reference = Workspace(tmp_path / "reference", corpus, models_cache, *urls)
    _output, reference_s = reference.run()
    expected = reference.rows()
    assert len(expected["documents"]) == 6 and len(expected["qa"]) > 10

    chaos = Workspace(tmp_path / "chaos", corpus, models_cache, *urls)
    report = []
    # synthetic_qa_5000 first: once its pairs are stored, a later run asks the teacher nothing new
    for step in ("synthetic_qa_5000", "raw_docs"):
        if step == "raw_docs":
            site.hold = True
            killed = _kill_inside(chaos, step, site.holding)
            site.hold = False
            site.release.set()
        else:
            teacher.hold_after = len(teacher.requests) + 3
            killed = _kill_inside(chaos, step, teacher.holding)
            teacher.hold_after = None
            teacher.release.set()
        output, recovery_s = chaos.run()
        said = [line for line in output.splitlines() if line.startswith(f"run {killed['run_id']} (STARTED)")]
        assert len(said) == 1 and "dead: marked failed and its pool slots freed" in said[0], output[-3000:]
        report.append({**killed, "recovered": True, "recovery_run_s": round(recovery_s, 1), "orphans": 0})
        rows = chaos.rows()
        assert rows["documents"] == expected["documents"]
        assert rows["document_rows"] == len(expected["documents"])
        assert rows["qa"] == expected["qa"]  # the same accepted pairs as the uninterrupted run
        assert rows["qa_rows"][0] == rows["qa_rows"][1] and rows["call_rows"][0] == rows["call_rows"][1]
    with chaos.instance() as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
        assert statuses == ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    if os.environ.get("SLM_CHAOS_REPORT"):
        Path(os.environ["SLM_CHAOS_REPORT"]).write_text(json.dumps(
            {"uninterrupted_run_s": round(reference_s, 1), "kills": report,
             "qa_accepted": len(expected["qa"]), "documents": len(expected["documents"])}, indent=2))
