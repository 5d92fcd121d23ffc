"""Synthetic QA benchmark: accepted pairs per 1,000 teacher tokens, and wall time for N pairs under
Groq-like latency and rate limits, against the local fake chat-completions server.

    .venv/bin/python bench/synth.py [--pairs 5000] [--pairs-per-call 8] [--rpm 30] [--tpm 6000]

What is real and what is simulated:
- real: the corpus (samples/ev_charging through slm_assets.ingest + process.curate, chunked with the
  SmolLM2 tokenizer), our prompts, the groq client, the generation loop, its limiter, gates and
  dedup, and token counts (the server counts with the SmolLM2 BPE tokenizer; Llama-3's larger
  vocabulary would count roughly 10-15 % fewer tokens on English).
- simulated: the teacher's replies (extractive: passage sentences as answers, questions from a
  seeded choice of frames, the number of pairs asked for when the passage has enough sentences,
  `--flaw-rate` of answers ungrounded or with a changed number, JSON indented like a chat model's),
  its latency (uniform 300-800 ms, seeded) and its limits (sliding minute, 429 with retry-after).
  Acceptance therefore depends on the simulation; prompt-side token costs do not.

The token economics run without latency or limits (they do not change tokens): a sweep of
pairs_per_call on --sweep-pairs pairs, then the whole --target with and without the judge. The timed
run uses latency and limits for --pairs pairs (5000 at 6,000 tokens/min takes about two hours); when
it is below --target, the wall time for the target is extrapolated from the unlimited whole-target
run's tokens and requests with a simple limit-bound model, which is first checked against the
measured run, and labelled as extrapolated.
Writes bench/results/synth.json and prints a table. Not part of the test suite.
"""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from slm_assets.ingest.documents import IngestFailure, document_row  # noqa: E402
from slm_assets.ingest.local import read_folder_documents  # noqa: E402
from slm_assets.process.config import ProcessConfig  # noqa: E402
from slm_assets.process.curate import curate  # noqa: E402
from slm_assets.synth.config import SynthConfig, TeacherConfig  # noqa: E402
from slm_assets.synth.generate import GenerationSummary, generate_qa  # noqa: E402
from slm_assets.synth.prompts import PROMPT_VERSION  # noqa: E402
from slm_assets.synth.records import ChunkForSynth  # noqa: E402
from slm_assets.synth.store import WarehouseQAStore  # noqa: E402
from slm_assets.synth.teachers import make_chat_teacher  # noqa: E402
from slm_assets.testing.teacher_server import FakeTeacherServer, approx_tokens  # noqa: E402
from slm_assets.warehouse import connect  # noqa: E402

SAMPLES = ROOT / "samples" / "ev_charging"
TOPIC = "electric vehicle charging stations"
WINDOW_S = 61.0  # the client's window: a minute plus the limiter's one second of safety


def token_counter():
    """(count(text) -> int, name): SmolLM2's BPE tokenizer from the bundled GGUF, else an approximation."""
    try:
        from transformers import AutoTokenizer

        from slm_assets.models import allow_transformers_gguf, bundled_gguf

        allow_transformers_gguf()
        gguf = bundled_gguf("smollm2-135m-instruct")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # bench only: fall back and say so in the results
        print(f"SmolLM2 tokenizer unavailable ({exc}); counting words and punctuation instead")
        return approx_tokens, "words+punctuation (approximation)", None
    lock = threading.Lock()  # the fast tokenizer is not safe to share between server threads

    def count(text: str) -> int:
        with lock:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count, "SmolLM2-135M BPE (49k vocabulary)", tokenizer


def corpus(tokenizer) -> list[ChunkForSynth]:
    rows = []
    for item in read_folder_documents([SAMPLES / "html", SAMPLES / "pdf"]):
        if not isinstance(item, IngestFailure):
            rows.append(document_row("bench", *item))
    if tokenizer is not None:
        def count_tokens(texts: list[str]) -> list[int]:
            return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    else:
        def count_tokens(texts: list[str]) -> list[int]:
            return [approx_tokens(t) for t in texts]
    result = curate("bench", rows, ProcessConfig(), count_tokens)
    titles = {r["doc_id"]: r["title"] for r in rows}
    return [ChunkForSynth(c["chunk_id"], c["doc_id"], c["text"], c["heading"], titles.get(c["doc_id"]), c["source"],
                          c["page_start"]) for c in result.chunks]


def run(chunks, count, args, n_pairs: int, pairs_per_call: int, limited: bool, judge: bool = False) -> dict:
    server_kwargs = dict(count_tokens=count, style="varied", flaw_rate=args.flaw_rate, seed=args.seed)
    if limited:
        server_kwargs.update(latency=tuple(args.latency), requests_per_minute=args.rpm, tokens_per_minute=args.tpm)
    config = SynthConfig(
        n_pairs=n_pairs, pairs_per_call=pairs_per_call, seed=args.seed, judge_groundedness=judge,
        requests_per_minute=args.rpm if limited else None, tokens_per_minute=args.tpm if limited else None,
    )
    with tempfile.TemporaryDirectory() as tmp, FakeTeacherServer(**server_kwargs) as server, \
            connect(Path(tmp) / "bench.duckdb") as con:
        teacher = make_chat_teacher(TeacherConfig(provider="groq", base_url=server.url), "bench-key", TOPIC, args.seed)
        summary: GenerationSummary = generate_qa("bench", chunks, teacher, config, WarehouseQAStore(con, "bench"),
                                                 concurrency=args.concurrency)
        kinds = [r["kind"] for r in server.requests]
        refused = server.refused
    generate_calls = kinds.count("generate")
    pairs_returned = summary.accepted_new + summary.rejected_new
    return {
        "pairs_per_call": pairs_per_call, "judge": judge, "limited": limited, "target": n_pairs,
        "accepted": summary.accepted_new, "rejected": summary.rejected_new,
        "acceptance": round(summary.accepted_new / pairs_returned, 3) if pairs_returned else None,
        "requests": summary.teacher_requests, "generate_calls": generate_calls,
        "prompt_tokens": summary.prompt_tokens, "completion_tokens": summary.completion_tokens,
        "tokens": summary.tokens,
        "accepted_per_1k_tokens": round(1000 * summary.accepted_new / summary.tokens, 2) if summary.tokens else None,
        "prompt_tokens_per_request": round(summary.prompt_tokens / summary.teacher_requests, 1),
        "completion_tokens_per_pair": round(summary.completion_tokens / pairs_returned, 1) if pairs_returned else None,
        "pairs_returned_per_call": round(pairs_returned / max(1, summary.calls_made), 2),
        "estimated_cost_usd": round(summary.estimated_cost_usd, 4),
        "server_429s": refused, "rate_limit_pauses": summary.rate_limit_pauses,
        "wall_s": round(summary.wall_s, 1), "stopped_because": summary.stopped_because,
        "reject_reasons": dict(summary.reject_reasons),
    }


def limit_model_s(tokens: float, requests: float, args) -> float:
    """Wall time under the limits: each full window's worth of tokens (or requests) beyond the first costs a
    window; calls in flight cost their latency."""
    mean_latency = sum(args.latency) / 2
    windows = max(math.floor(tokens / args.tpm), math.floor(requests / args.rpm))
    return max(windows * WINDOW_S, requests * mean_latency / args.concurrency) + mean_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5000, help="accepted pairs in the timed, rate-limited run")
    parser.add_argument("--target", type=int, default=5000, help="pairs the wall time is reported (or extrapolated) for")
    parser.add_argument("--pairs-per-call", type=int, default=SynthConfig().pairs_per_call)
    parser.add_argument("--sweep", default="3,5,6,8,12", help="pairs_per_call values for the token-economics sweep")
    parser.add_argument("--sweep-pairs", type=int, default=400, help="accepted pairs per sweep run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rpm", type=int, default=30, help="requests/min (Groq free tier: 30)")
    parser.add_argument("--tpm", type=int, default=6000, help="tokens/min (Groq free tier: 6,000 for "
                        "llama-3.1-8b-instant, 12,000 for llama-3.3-70b-versatile)")
    parser.add_argument("--latency", type=float, nargs=2, default=[0.3, 0.8], help="seconds, uniform per call")
    parser.add_argument("--flaw-rate", type=float, default=0.1, help="simulated share of flawed answers")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-timed", action="store_true", help="only the token-economics sweep")
    args = parser.parse_args()

    started = time.perf_counter()
    count, counter_name, tokenizer = token_counter()
    chunks = corpus(tokenizer)
    chunk_tokens = [count(c.text) for c in chunks]
    print(f"corpus: {len(chunks)} chunks, mean {sum(chunk_tokens) / len(chunks):.0f} tokens "
          f"({time.perf_counter() - started:.0f} s to load)")

    sweep = [run(chunks, count, args, args.sweep_pairs, int(p), limited=False) for p in args.sweep.split(",")]
    # the whole target without limits: tokens per pair over a full run (later rotations reuse chunks)
    full = [run(chunks, count, args, args.target, args.pairs_per_call, limited=False, judge=judge)
            for judge in (False, True)]
    timed = extrapolation = None
    if not args.skip_timed:
        timed = run(chunks, count, args, args.pairs, args.pairs_per_call, limited=True)
        measured = timed["accepted"] >= args.target
        extrapolation = {
            "model": "max(floor(tokens / tpm), floor(requests / rpm)) x 61 s windows, or requests x mean "
                     "latency / concurrency if larger, plus one mean latency; tokens and requests from the "
                     "unlimited run of the whole target",
            "model_check_predicted_s": round(limit_model_s(timed["tokens"], timed["requests"], args), 1),
            "model_check_measured_s": timed["wall_s"],
            "target": args.target,
            "extrapolated": not measured,
            "wall_s_for_target": timed["wall_s"] if measured else round(
                limit_model_s(full[0]["tokens"], full[0]["requests"], args)),
            "cost_usd_for_target_at_groq_70b_prices": full[0]["estimated_cost_usd"],
        }
    results = {
        "bench": "synth", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "prompt_version": PROMPT_VERSION, "token_counter": counter_name,
        "corpus": {"chunks": len(chunks), "mean_chunk_tokens": round(sum(chunk_tokens) / len(chunks), 1),
                   "source": "samples/ev_charging (html + pdf) via ingest + process.curate"},
        "simulation": {"teacher": "fake_teacher.FakeTeacherServer(style='varied')", "flaw_rate": args.flaw_rate,
                       "latency_s": args.latency, "requests_per_minute": args.rpm, "tokens_per_minute": args.tpm,
                       "concurrency": args.concurrency, "seed": args.seed},
        "sweep_unlimited": sweep, "target_unlimited": full, "timed": timed, "extrapolation": extrapolation,
    }
    out = ROOT / "bench" / "results" / "synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\ntoken economics, no limits (tokens counted with {counter_name})")
    print(f"{'pairs':>6} {'pairs/call':>10} {'judge':>5} {'acc/1k tok':>10} {'accept':>6} {'prompt/req':>10} "
          f"{'compl/pair':>10} {'pairs/call got':>14}")
    for row in sweep + full:
        print(f"{row['accepted']:>6} {row['pairs_per_call']:>10} {'yes' if row['judge'] else 'no':>5} "
              f"{row['accepted_per_1k_tokens']:>10} {row['acceptance']:>6} {row['prompt_tokens_per_request']:>10} "
              f"{row['completion_tokens_per_pair']:>10} {row['pairs_returned_per_call']:>14}")
    if timed:
        print(f"\ntimed run ({args.rpm} req/min, {args.tpm} tok/min, latency {args.latency[0]}-{args.latency[1]} s, "
              f"concurrency {args.concurrency}, pairs/call {args.pairs_per_call})")
        print(f"  {timed['accepted']} pairs in {timed['wall_s']} s measured; {timed['accepted_per_1k_tokens']} "
              f"accepted/1k tokens; server 429s {timed['server_429s']}, loop pauses {timed['rate_limit_pauses']}")
        label = "extrapolated" if extrapolation["extrapolated"] else "measured"
        print(f"  model check on this run: predicted {extrapolation['model_check_predicted_s']} s, "
              f"measured {extrapolation['model_check_measured_s']} s")
        print(f"  {args.target} pairs: {extrapolation['wall_s_for_target'] / 60:.0f} min ({label}), "
              f"~${extrapolation['cost_usd_for_target_at_groq_70b_prices']:.2f} at Groq Llama-3.3-70B prices")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
