"""A generation run in its own process, for the kill-and-resume test (not a test module itself).

    python -m slm_assets_tests.synth.kill_run --url http://127.0.0.1:PORT --db w.duckdb --n-pairs 24

Prints `recorded <calls> <accepted>` after every stored call (flushed), and `done <summary json>`.
"""

import argparse
import json
import sys
from pathlib import Path

from slm_assets.synth.config import SynthConfig, TeacherConfig
from slm_assets.synth.generate import GenerationSummary, generate_qa
from slm_assets.synth.records import ChunkForSynth
from slm_assets.synth.store import WarehouseQAStore
from slm_assets.synth.teachers import make_chat_teacher
from slm_assets.warehouse import connect

DOMAIN, TOPIC, MODEL, SEED = "kill", "EV charging", "llama-3.3-70b-versatile", 13


def make_chunks(n: int) -> list[ChunkForSynth]:
    """Distinct passages whose sentences carry figures of their own."""
    return [
        ChunkForSynth(
            f"c{i}", f"d{i % 4}",
            f"Site {i} has {4 + i} charging points rated at {50 + 10 * i} kW each on a dedicated feeder. "
            f"The operator of site {i} reports an uptime of {90 + i % 10} percent over the past {12 + i} months. "
            f"Drivers at site {i} pay {30 + i} cents per kWh with roaming cards from {3 + i} networks.",
            "Sites", "Site register", f"site{i}.html", None,
        )
        for i in range(n)
    ]


def config(n_pairs: int) -> SynthConfig:
    return SynthConfig(n_pairs=n_pairs, pairs_per_call=2, seed=SEED, retry_pause_s=0.1)


def generate(url: str, db: Path, n_pairs: int, n_chunks: int, concurrency: int, progress=None) -> GenerationSummary:
    teacher = make_chat_teacher(TeacherConfig(provider="groq", model=MODEL, base_url=url, temperature=0.7,
                                              max_tokens=512, timeout_s=10.0, max_retries=1), "test-key", TOPIC, SEED)
    with connect(db) as con:
        return generate_qa(DOMAIN, make_chunks(n_chunks), teacher, config(n_pairs), WarehouseQAStore(con, DOMAIN),
                           concurrency=concurrency, progress=progress)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--n-pairs", type=int, default=24)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    def progress(summary: GenerationSummary) -> None:
        print(f"recorded {summary.calls_made} {summary.accepted_total}", flush=True)

    summary = generate(args.url, args.db, args.n_pairs, args.chunks, args.concurrency, progress)
    print("done " + json.dumps({"accepted_total": summary.accepted_total, "calls_made": summary.calls_made,
                                "calls_skipped": summary.calls_skipped}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
