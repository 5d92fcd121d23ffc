"""Benchmark generation in bf16 against fp32 on the CPU: the same model, gold questions and batches, closed and open
book, greedy. Does bf16 make the benchmark faster here, and how many answers does it change?

    .venv/bin/python bench/bf16_generation.py --warehouse warehouse --questions 128 [--adapter DIR]

Writes bench/results/bf16_generation.json (--out): seconds per dtype and mode, answers identical to fp32, mean ROUGE-L.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchmark_parts import gold_workload, timed  # noqa: E402


def cpu_flags() -> list[str]:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags.split() if f.startswith(("avx512_bf16", "amx")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--questions", type=int, default=128)
    parser.add_argument("--adapter", type=Path, default=None, help="a LoRA adapter merged into the base (else base)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bf16_generation.json")
    args = parser.parse_args()

    import torch
    import transformers

    from slm_assets.evaluate.metrics import score_pair
    from slm_assets.generation import generate_answers

    work = gold_workload(args.warehouse, args.domain, args.questions, args.adapter)
    spec, tokenizer, model, rows, references, modes = (work.spec, work.tokenizer, work.model, work.rows,
                                                       work.references, work.modes)
    max_new, batch, workers = spec.benchmark.max_new_tokens, spec.benchmark.batch_size, spec.benchmark.generation_workers

    seconds, identical, rouge_l, answers = {}, {}, {}, {}
    for dtype in ("float32", "bfloat16"):
        model = model.to(getattr(torch, dtype))
        for mode, prompts in modes.items():
            key = f"{dtype}_{mode}"
            seconds[key], generated = timed(lambda p=prompts, m=model: generate_answers(m, tokenizer, p, max_new, batch,
                                                                               workers))
            answers[key] = [g.text for g in generated]
            rouge_l[key] = round(statistics.fmean(score_pair(a, ref)["rouge_l"]
                                                  for a, ref in zip(answers[key], references, strict=True)), 4)
            identical[key] = sum(a == b for a, b in zip(answers[key], answers[f"float32_{mode}"], strict=True))
    record = {
        "what": "benchmark generation of the demo base model in bf16 vs fp32 on the CPU, gold questions closed and "
                "open book, greedy, benchmark.batch_size and generation_workers as configured",
        "model": spec.base_model + (f" + {args.adapter}" if args.adapter else ""), "questions": len(rows), "max_new_tokens": max_new, "batch_size": batch, "generation_workers": workers,
        "seconds": seconds, "identical_to_float32": identical, "rouge_l": rouge_l,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "cpu_flags": cpu_flags(),
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
