"""A generating process killed with SIGKILL midway resumes without repeating a stored call.

The fake server fingerprints every request by its first user message (sha256), independently of
the client's call keys. The test maps each call key stored before the kill to the prompt that unit
sends (the prompts are deterministic) and checks the server never saw that prompt again.
"""

import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb

from slm_assets.synth.generate import call_key
from slm_assets.synth.prompts import TEMPLATES, build_messages
from slm_assets.testing.teacher_server import FakeTeacherServer
from slm_assets_tests.synth.kill_run import DOMAIN, MODEL, SEED, TOPIC, config, generate, make_chunks

ROOT = Path(__file__).resolve().parents[2]
TARGET, N_CHUNKS = 24, 40


def start(url: str, db: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "slm_assets_tests.synth.kill_run", "--url", url, "--db", str(db),
         "--n-pairs", str(TARGET), "--chunks", str(N_CHUNKS), "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """Stdout lines on a queue, so that reading can time out."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return lines


def fingerprints_by_key() -> dict[str, str]:
    """call key -> sha256 of the user message that unit sends (as the server computes it)."""
    n_pairs = config(TARGET).pairs_per_call
    mapping = {}
    for chunk in make_chunks(N_CHUNKS):
        for template in TEMPLATES:
            user = build_messages(TOPIC, chunk, template, n_pairs, SEED)[1]["content"]
            key = call_key(DOMAIN, chunk, template, "groq", MODEL)
            mapping[key] = hashlib.sha256(user.encode()).hexdigest()[:24]
    return mapping


def test_sigkilled_run_resumes_to_exactly_the_target_without_repeating_stored_calls(tmp_path):
    db = tmp_path / "w.duckdb"
    with FakeTeacherServer(delay_s=0.2) as server:
        child = start(server.url, db)
        lines = lines_of(child)
        recorded = 0
        while recorded < 3:
            line = lines.get(timeout=60)
            recorded += line.startswith("recorded")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        seen_before_kill = len(server.requests)

        con = duckdb.connect(str(db))  # the OS released the killed process's lock; the WAL is replayed
        stored_keys = {r[0] for r in con.execute("select call_key from teacher_calls").fetchall()}
        accepted_at_kill = con.execute("select count(*) from qa_pairs where status = 'accepted'").fetchone()[0]
        con.close()
        assert len(stored_keys) >= 3 and 0 < accepted_at_kill < TARGET  # killed midway, with work stored

        by_key = fingerprints_by_key()
        stored_prints = {by_key[k] for k in stored_keys}
        before = {r["fingerprint"] for r in server.requests[:seen_before_kill]}
        assert stored_prints <= before  # the mapping is real: every stored call was seen under that print

        server.delay_s = 0.0  # the delay only had to let the kill land midway
        # the re-run, in this process (a fresh process proves nothing more: all state is in the file)
        second = generate(server.url, db, TARGET, N_CHUNKS, concurrency=2)
        after = server.requests[seen_before_kill:]

    repeated = [r for r in after if r["fingerprint"] in stored_prints]
    assert after and repeated == []
    assert second.calls_skipped >= len(stored_keys) and second.accepted_total == TARGET
    con = duckdb.connect(str(db), read_only=True)
    accepted, ids, questions = con.execute(
        "select count(*), count(distinct qa_id), count(distinct question) from qa_pairs where status = 'accepted'"
    ).fetchone()
    all_rows, all_ids = con.execute("select count(*), count(distinct qa_id) from qa_pairs").fetchone()
    con.close()
    assert accepted == ids == questions == TARGET
    assert all_rows == all_ids
