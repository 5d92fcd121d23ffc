"""Two cores, two ways: benchmark generation in one process on 2 torch threads, against two processes of 1 thread
each that split the batches between them (the same batches, so the same padding). Gold questions of the demo
domain, closed and open book, greedy, batches of `benchmark.batch_size`.

    .venv/bin/python bench/thread_split.py --warehouse warehouse --questions 169

Writes bench/results/thread_split.json: wall seconds per way and mode, and how many answers are identical.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = {}  # per worker process: the loaded model and tokenizer


def load(warehouse: str, domain: str, threads: int) -> None:
    import torch

    from slm_assets.domains import load_domain
    from slm_assets.models import load_tokenizer, load_tuned_model

    torch.set_num_threads(threads)
    spec = load_domain(domain)
    cache = Path(warehouse) / "models"
    MODEL["tokenizer"], MODEL["model"] = load_tokenizer(spec.base_model, cache), load_tuned_model(spec.base_model,
                                                                                                 cache, None)
    MODEL["spec"] = spec


def answer_batches(batches: list[list[list[dict]]]) -> list[list[str]]:
    """Greedy answers of each batch as one generate_answers call of exactly that batch."""
    from slm_assets.generation import generate_answers

    spec = MODEL["spec"]
    return [[g.text for g in generate_answers(MODEL["model"], MODEL["tokenizer"], batch,
                                              spec.benchmark.max_new_tokens, len(batch))] for batch in batches]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--questions", type=int, default=169)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "thread_split.json")
    args = parser.parse_args()

    import torch
    import transformers

    from bench.benchmark_parts import gold_workload
    from slm_assets.batching import similar_length_batches
    from slm_assets.generation import chat_prompt_ids

    torch.set_num_threads(2)
    work = gold_workload(args.warehouse, args.domain, args.questions)
    spec, tokenizer, modes = work.spec, work.tokenizer, work.modes
    MODEL.update(spec=spec, tokenizer=tokenizer, model=work.model)  # this process answers one batch at a time
    record: dict = {"seconds": {}, "identical": {}, "batches": {}}
    with ProcessPoolExecutor(2, initializer=load, initargs=(str(args.warehouse), args.domain, 1)) as pool:
        list(pool.map(time.sleep, [0.5, 0.5]))  # both workers loaded before anything is timed
        for mode, prompts in modes.items():
            ids = chat_prompt_ids(tokenizer, prompts)
            index_batches = similar_length_batches([len(i) for i in ids], spec.benchmark.batch_size,
                                                   max_padding=math.inf)
            batches = [[prompts[i] for i in b] for b in index_batches]
            record["batches"][mode] = [len(b) for b in batches]
            started = time.perf_counter()
            one = answer_batches(batches)
            record["seconds"][f"one_process_2_threads_{mode}"] = round(time.perf_counter() - started, 1)
            # longest-first to whichever worker is free: the two halves of the work end close together
            order = sorted(range(len(batches)), key=lambda i: -sum(len(ids[j]) for j in index_batches[i]))
            started = time.perf_counter()
            futures = {i: pool.submit(answer_batches, [batches[i]]) for i in order}
            two = [futures[i].result()[0] for i in range(len(batches))]
            record["seconds"][f"two_processes_1_thread_{mode}"] = round(time.perf_counter() - started, 1)
            record["identical"][mode] = sum(a == b for x, y in zip(one, two, strict=True)
                                            for a, b in zip(x, y, strict=True))
            # the same split inside this process: two Python threads, torch on 1 intra-op thread
            torch.set_num_threads(1)
            started = time.perf_counter()
            with ThreadPoolExecutor(2) as threads:
                futures = {i: threads.submit(answer_batches, [batches[i]]) for i in order}
                both = [futures[i].result()[0] for i in range(len(batches))]
            record["seconds"][f"two_threads_1_torch_thread_{mode}"] = round(time.perf_counter() - started, 1)
            torch.set_num_threads(2)
            record["identical"][f"threads_{mode}"] = sum(a == b for x, y in zip(one, both, strict=True)
                                                         for a, b in zip(x, y, strict=True))
    record.update({
        "what": "benchmark generation (base model, gold questions, greedy) in one process on 2 torch threads vs two "
                "processes of 1 thread each sharing the same batches",
        "questions": len(work.rows), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
