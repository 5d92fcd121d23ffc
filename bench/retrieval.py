"""Retrieval: BM25 index build time and query latency at 100,000 chunks; recall@k on a held-out split.

    python bench/retrieval.py [--chunks 100000] [--queries 1000] [--domain ev_charging] [--warehouse warehouse]

Synthetic chunks are built from the sample corpus' vocabulary (so term statistics are realistic);
recall@k uses a materialised domain's test split and its stored index, if present.
Writes bench/results/retrieval.json and prints a table.
"""

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slm_assets.retrieval.index import ChunkIndex, recall_at_k  # noqa: E402


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted((ROOT / "samples" / "ev_charging" / "html").glob("*.html")):
        words += re.findall(r"[A-Za-z][A-Za-z0-9\-]{2,}", re.sub(r"<[^>]+>", " ", path.read_text(errors="ignore")))
    return words or ["charger", "connector", "power"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    args = parser.parse_args()

    rng = random.Random(0)
    words = vocabulary()
    rows = [{"chunk_id": f"c{i}", "doc_id": f"d{i // 20}", "text": " ".join(rng.choices(words, k=120))}
            for i in range(args.chunks)]
    started = time.perf_counter()
    index, stats = ChunkIndex.build(rows)
    build_s = time.perf_counter() - started
    # incremental: 1% of chunks changed
    changed = rows[: -args.chunks // 100] + [{"chunk_id": f"n{i}", "doc_id": "new", "text": " ".join(rng.choices(words, k=120))}
                                              for i in range(args.chunks // 100)]
    started = time.perf_counter()
    _, inc_stats = ChunkIndex.build(changed, previous=index)
    incremental_s = time.perf_counter() - started

    latencies = []
    for _ in range(args.queries):
        query = " ".join(rng.choices(words, k=8))
        t0 = time.perf_counter()
        index.search(query, args.k)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    result = {
        "chunks": args.chunks, "build_s": round(build_s, 2), "incremental_rebuild_s": round(incremental_s, 2),
        "incremental_tokenized": inc_stats.tokenized,
        "query_p50_ms": round(statistics.median(latencies), 2),
        "query_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
    }

    sft, stored = args.warehouse / "artifacts" / args.domain / "sft" / "test.jsonl", None
    if sft.exists():
        stored = ChunkIndex.load(args.warehouse / "artifacts" / args.domain / "index")
    if stored is not None:
        tests = [json.loads(line) for line in sft.read_text().splitlines() if line]
        pairs = [(t["question"], t["chunk_id"]) for t in tests]
        for k in (1, 2, 5, 10):
            result[f"recall@{k}_{args.domain}"] = round(recall_at_k(stored, pairs, k), 3)
        result["heldout_questions"] = len(pairs)

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(result, indent=2))
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
