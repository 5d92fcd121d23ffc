"""The transformers backend with and without continuous batching, on one model: N greedy chat requests answered
one after another (slots=1, `generate` under the lock) and all at once (slots=N, transformers'
ContinuousBatchingManager through slm_assets.serve.hf_batching): wall time, completion tokens/s, and whether every
batched answer equals its one-at-a-time answer.

    .venv/bin/python bench/serve_hf.py MODEL_DIR [--device cpu|cuda] [--max-tokens 48] [--out PATH]

MODEL_DIR is a merged model (a bundle's merged/ folder) or any transformers model directory. Writes
bench/results/serve_hf.json (machine, versions) and prints a table. Not part of the tests.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.serve import QUESTIONS, machine, versions  # noqa: E402

MORE_QUESTIONS = ["What does a type B RCD detect?", "What is ISO 15118 used for?"]


def answer_all(backend, questions: list[str], max_tokens: int, together: bool) -> tuple[list, float]:
    """(the Generations in question order, wall seconds); `together`: one thread per question at once."""
    def ask(question: str):
        return backend.chat([{"role": "user", "content": question}], max_tokens, 0.0)

    started = time.perf_counter()
    if not together:
        return [ask(q) for q in questions], time.perf_counter() - started
    with ThreadPoolExecutor(len(questions)) as pool:
        answers = list(pool.map(ask, questions))
    return answers, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve_hf.json")
    args = parser.parse_args()
    from slm_assets.serve.backends import TransformersBackend

    questions = [*QUESTIONS, *MORE_QUESTIONS]
    one = TransformersBackend(args.model, device=args.device, slots=1)
    answer_all(one, questions[:1], 4, together=False)  # warm-up
    sequential, sequential_s = answer_all(one, questions, args.max_tokens, together=False)
    one.close()
    batching = TransformersBackend(args.model, device=args.device, slots=len(questions), n_ctx=args.n_ctx)
    try:
        answer_all(batching, questions[:1], 4, together=True)  # warm-up
        batched, batched_s = answer_all(batching, questions, args.max_tokens, together=True)
    finally:
        batching.close()
    tokens = sum(g.completion_tokens for g in sequential)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "versions": versions(),
        "model": str(args.model), "device": args.device, "requests": len(questions), "max_tokens": args.max_tokens,
        "one_at_a_time": {"wall_s": round(sequential_s, 2), "completion_tokens": tokens,
                          "tokens_per_s": round(tokens / sequential_s, 1)},
        "batched": {"slots": len(questions), "wall_s": round(batched_s, 2),
                    "completion_tokens": sum(g.completion_tokens for g in batched),
                    "tokens_per_s": round(sum(g.completion_tokens for g in batched) / batched_s, 1)},
        "same_answers": sum(a.text == b.text for a, b in zip(sequential, batched, strict=True)),
    }
    result["throughput_ratio"] = round(result["batched"]["tokens_per_s"] / result["one_at_a_time"]["tokens_per_s"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"| {len(questions)} greedy requests x {args.max_tokens} tokens, {args.device} | wall s | tokens/s |\n"
          "|---|---|---|")
    for name in ("one_at_a_time", "batched"):
        print(f"| {name} | {result[name]['wall_s']} | {result[name]['tokens_per_s']} |")
    print(f"\n{result['throughput_ratio']}x; {result['same_answers']} of {len(questions)} batched answers equal "
          f"their one-at-a-time answers\nwrote {args.out}")


if __name__ == "__main__":
    main()
