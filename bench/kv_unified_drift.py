"""How far one shared KV cache for all slots moves a request's answer from its one-at-a-time answer.

Two measurements on one GGUF (default: the bundled SmolLM2):
1. logits: each question's prompt is decoded after the other questions already sit in the cache (their own
   sequences), and its last-position logits are compared with the same prompt decoded alone in a fresh context;
   once with one cache per sequence, once with the shared cache (llama.cpp's kv_unified);
2. answers: every question answered alone (one slot), then all together on a server with one cache per slot and
   on one with the shared cache (greedy, chat template): how many batched answers equal the one given alone.

    .venv/bin/python bench/kv_unified_drift.py [--gguf PATH] [--max-tokens 48]

Writes bench/results/kv_unified_drift.json (machine, versions) and prints a table. Not part of the tests.
"""

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.serve import QUESTIONS, default_gguf, machine, versions  # noqa: E402


def prompt_end_logits(llm, prompts: list[list[int]], target: int, kv_unified: bool):
    """Last-position logits of `prompts[target]`, decoded after every other prompt (each its own sequence)."""
    from slm_assets.llama_batch import BatchContext

    context = BatchContext(llm, len(prompts), 512, 512, threads=len(os.sched_getaffinity(0)), kv_unified=kv_unified)
    try:
        for seq in [*(s for s in range(len(prompts)) if s != target), target]:
            context.start_batch()
            for pos, token in enumerate(prompts[seq]):
                index = context.add(token, pos, seq, pos == len(prompts[seq]) - 1)
            context.decode()
        return context.logits(index).copy()
    finally:
        context.close()


def logit_drift(gguf: Path) -> dict:
    import numpy as np

    from slm_assets.llama_models import open_llama

    llm = open_llama(gguf, n_threads=1, n_ctx=64, n_batch=64)
    try:
        prompts = [llm.tokenize(q.encode(), add_bos=True) for q in QUESTIONS]
        out = {}
        for name, unified in (("per_slot", False), ("unified", True)):
            drift = []
            for target in range(len(prompts)):
                alone = prompt_end_logits(llm, [prompts[target]], 0, unified)
                shared = prompt_end_logits(llm, prompts, target, unified)
                drift.append(round(float(np.abs(shared - alone).max()), 4))
            out[name] = {"max_abs_logit_difference": drift, "max": max(drift)}
        return out
    finally:
        llm.close()


def answer_agreement(gguf: Path, max_tokens: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from slm_assets.serve.backends import LlamaCppBackend

    def ask(backend, question: str) -> str:
        return backend.chat([{"role": "user", "content": question}], max_tokens, 0.0).text

    single = LlamaCppBackend(gguf, slots=1)
    try:
        alone = [ask(single, q) for q in QUESTIONS]
    finally:
        single.close()
    out = {}
    for name, unified in (("per_slot", False), ("unified", True)):
        backend = LlamaCppBackend(gguf, slots=len(QUESTIONS), kv_unified=unified)
        try:
            with ThreadPoolExecutor(len(QUESTIONS)) as pool:
                batched = list(pool.map(lambda q, b=backend: ask(b, q), QUESTIONS))
        finally:
            backend.close()
        same = [a == b for a, b in zip(alone, batched, strict=True)]
        shared_chars = [len(os.path.commonprefix([a, b])) for a, b in zip(alone, batched, strict=True)]
        out[name] = {"same_answer": sum(same), "questions": len(QUESTIONS), "shared_prefix_chars": shared_chars,
                     "answer_chars": [len(a) for a in alone], "batched": batched}
    out["alone"] = alone
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=None)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kv_unified_drift.json")
    args = parser.parse_args()
    gguf = args.gguf or default_gguf()
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "versions": versions(),
              "python": platform.python_version(), "gguf": str(gguf), "max_tokens": args.max_tokens,
              "logits": logit_drift(gguf), "answers": answer_agreement(gguf, args.max_tokens)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"| KV cache | max abs logit difference at the prompt end, {len(QUESTIONS)} prompts | batched answers equal "
          "to the one-at-a-time answer |\n|---|---|---|")
    for name in ("per_slot", "unified"):
        answers = result["answers"][name]
        print(f"| {name} | {result['logits'][name]['max']} | {answers['same_answer']} of {answers['questions']} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
