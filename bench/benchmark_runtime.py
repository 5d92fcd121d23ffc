"""benchmark_report's generation in transformers against llama.cpp on the same model: the domain's gold questions,
closed and open book, greedy, in batches of `benchmark.batch_size`. llama.cpp reads a GGUF written from the same
weights by llama.cpp's converter (f32 and f16; the conversion is timed), with the HF tokenizer's prompt ids.

    .venv/bin/python bench/benchmark_runtime.py --warehouse warehouse --questions 169 [--adapter DIR]

Writes bench/results/benchmark_runtime.json: seconds per runtime and mode, how many answers are identical to
transformers', and mean ROUGE-L against the references for each runtime.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchmark_parts import gold_workload, timed  # noqa: E402
from slm_assets.batching import similar_length_batches  # noqa: E402
from slm_assets.evaluate.latency_llama_cpp import BatchedGreedy  # noqa: E402
from slm_assets.evaluate.timed_run import cpu_threads  # noqa: E402
from slm_assets.generation import Generated, chat_prompt_ids  # noqa: E402
from slm_assets.llama_batch import end_of_generation  # noqa: E402
from slm_assets.llama_models import context_size, open_llama  # noqa: E402


def llama_cpp_answers(gguf_path: Path, tokenizer, prompts: list[list[dict]], max_new_tokens: int,
                      batch_size: int, threads: int | None = None) -> list[Generated]:
    """Answers in the order of `prompts`, each stopped at its first end-of-generation token. The prompt ids are the
    HF tokenizer's chat template (as generate_answers reads them) and the answers are decoded by it, so only the
    runtime differs. Each answer's latency is its batch's wall time divided by the batch size."""
    import numpy as np

    ids = chat_prompt_ids(tokenizer, prompts)
    batches = similar_length_batches([len(i) for i in ids], batch_size, max_padding=math.inf)
    n_batch = max(sum(len(ids[i]) for i in batch) for batch in batches)
    threads = threads or cpu_threads()
    out: list[Generated | None] = [None] * len(prompts)
    # the Llama object only holds the weights; the decoding context is BatchedGreedy's own
    llm = open_llama(gguf_path, n_threads=threads, n_threads_batch=threads, n_ctx=64, n_batch=64)
    decoder = None
    try:
        decoder = BatchedGreedy(llm, max(len(b) for b in batches), context_size(max(len(i) for i in ids), max_new_tokens), n_batch,
                                threads)
        end_tokens = set(end_of_generation(llm))
        no_ban = np.array([], dtype=np.int64)
        for batch in batches:
            started = time.perf_counter()
            _, _, tokens = decoder.generate([ids[i] for i in batch], max_new_tokens, no_ban, end_tokens)
            elapsed = time.perf_counter() - started
            for i, new in zip(batch, tokens, strict=True):
                text = tokenizer.decode(new, skip_special_tokens=True).strip()
                out[i] = Generated(text=text, latency_s=elapsed / len(batch), new_tokens=len(new))
    finally:
        if decoder is not None:
            decoder.close()
        llm.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--questions", type=int, default=169)
    parser.add_argument("--adapter", type=Path, default=None, help="a LoRA adapter merged into the base (else base)")
    parser.add_argument("--outtypes", default="f32,f16")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "benchmark_runtime.json")
    args = parser.parse_args()

    import llama_cpp
    import torch
    import transformers

    from slm_assets.evaluate.metrics import score_pair
    from slm_assets.export.gguf import export_ggufs
    from slm_assets.generation import generate_answers

    work = gold_workload(args.warehouse, args.domain, args.questions, args.adapter)
    spec, tokenizer, model, rows, references = work.spec, work.tokenizer, work.model, work.rows, work.references
    max_new, batch = spec.benchmark.max_new_tokens, spec.benchmark.batch_size
    modes = work.modes

    def rouge(answers):
        return round(statistics.fmean(score_pair(a, ref)["rouge_l"] for a, ref in zip(answers, references,
                                                                                     strict=True)), 4)

    seconds, identical, rouge_l = {}, {}, {}
    hf = {}
    for mode, prompts in modes.items():
        seconds[f"transformers_{mode}"], generated = timed(
            lambda p=prompts: generate_answers(model, tokenizer, p, max_new, batch))
        hf[mode] = [g.text for g in generated]
        rouge_l[f"transformers_{mode}"] = rouge(hf[mode])
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        model_dir = Path(tmp) / "hf"
        seconds["save_pretrained"], _ = timed(lambda: (model.save_pretrained(str(model_dir)),
                                                       tokenizer.save_pretrained(str(model_dir))))
        for outtype in args.outtypes.split(","):
            seconds[f"convert_{outtype}"], infos = timed(
                lambda o=outtype: export_ggufs(model_dir, Path(tmp), "bench", [o], outtype=o))
            gguf = infos[outtype].path
            for mode, prompts in modes.items():
                key = f"llama_cpp_{outtype}_{mode}"
                seconds[key], generated = timed(
                    lambda p=prompts, g=gguf: llama_cpp_answers(g, tokenizer, p, max_new, batch))
                answers = [g.text for g in generated]
                identical[key] = sum(a == b for a, b in zip(answers, hf[mode], strict=True))
                rouge_l[key] = rouge(answers)
            gguf.unlink()
    record = {
        "what": "benchmark_report's greedy generation, transformers (fp32) against llama.cpp on a GGUF of the same "
                "weights, the domain's gold questions closed and open book",
        "domain": args.domain, "model": f"{spec.base_model}" + (f" + {args.adapter}" if args.adapter else ""),
        "questions": len(rows), "max_new_tokens": max_new, "batch_size": batch,
        "seconds": seconds, "identical_to_transformers": identical, "rouge_l": rouge_l,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or 'cpu'}",
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "llama_cpp_python": llama_cpp.__version__, "torch_threads": torch.get_num_threads(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
