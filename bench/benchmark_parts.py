"""What one model costs benchmark_report on a domain's gold questions, part by part, before and after session 12's
changes: (a) greedy generation in batches of 8 in question order against length-sorted batches of
`benchmark.batch_size` (32); (b) reference perplexity closed book and open book (open book is no longer scored);
(c) the grounding check's coverage signals embedding the retrieved passages again against reading their stored
vectors (as the server does).

    .venv/bin/python bench/benchmark_parts.py --warehouse /path/to/warehouse --questions 64

Uses the domain's base model and index from the warehouse; writes bench/results/benchmark_parts.json and checks
that both generation settings give the same answers.
"""

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def in_question_order(model, tokenizer, prompts, max_new_tokens: int, batch_size: int) -> list[str]:
    """generate_answers as it was: batches of `batch_size` in the order given, each padded to its longest prompt."""
    import torch

    from slm_assets.generation import templated_prompts

    tokenizer.padding_side = "left"
    answers = []
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(templated_prompts(tokenizer, prompts[i : i + batch_size]), return_tensors="pt", padding=True,
                        add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        answers += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in out[:, enc["input_ids"].shape[1]:]]
    return answers


@dataclass
class GoldWorkload:
    """A domain's first N gold questions (qa_id order) with one loaded model: what the bench scripts time."""

    spec: object  # domains.DomainSpec
    tokenizer: object
    model: object
    rows: list[dict]
    references: list[str]
    book: object  # evaluate.benchmark.OpenBookQuestions

    @property
    def modes(self) -> dict[str, list[list[dict]]]:
        """The chat prompts closed book and open book (with the top-k retrieved passages)."""
        return {"closed_book": [r["prompt"] for r in self.rows], "open_book": self.book.prompts}


def gold_workload(warehouse: Path, domain: str, questions: int, adapter: Path | None = None) -> GoldWorkload:
    """The domain's base model (with `adapter` merged in, when given) from the warehouse's model cache, and its first
    `questions` gold questions asked closed and open book through the warehouse's index."""
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.benchmark import open_book_prompts
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.models import load_tokenizer, load_tuned_model
    from slm_assets.retrieval.index import ChunkIndex

    spec = load_domain(domain)
    cache = warehouse / "models"
    tokenizer, model = load_tokenizer(spec.base_model, cache), load_tuned_model(spec.base_model, cache, adapter)
    rows, _ = gold_rows(gold_path(spec), spec.system_prompt)
    rows = sorted(rows, key=lambda r: r["qa_id"])[:questions]
    book = open_book_prompts(rows, ChunkIndex.load(warehouse / "artifacts" / domain / "index"),
                             spec.split.context.k_retrieve)
    return GoldWorkload(spec, tokenizer, model, rows, [r["completion"][0]["content"] for r in rows], book)


def timed(function):
    started = time.perf_counter()
    value = function()
    return round(time.perf_counter() - started, 2), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--questions", type=int, default=64)
    args = parser.parse_args()

    import torch
    import transformers

    from slm_assets.evaluate.benchmark import coverage_of, reference_perplexity
    from slm_assets.generation import generate_answers

    work = gold_workload(args.warehouse, args.domain, args.questions)
    spec, tokenizer, model, rows, references, book = (work.spec, work.tokenizer, work.model, work.rows,
                                                      work.references, work.book)
    max_new = spec.benchmark.max_new_tokens
    batch = spec.benchmark.batch_size
    seconds, same = {}, {}
    for mode, prompts in (("closed_book", [r["prompt"] for r in rows]), ("open_book", book.prompts)):
        seconds[f"generate_{mode}_batch8_question_order"], before = timed(
            lambda p=prompts: in_question_order(model, tokenizer, p, max_new, 8))
        seconds[f"generate_{mode}_batch{batch}_by_length"], after = timed(
            lambda p=prompts: [g.text for g in generate_answers(model, tokenizer, p, max_new, batch)])
        same[mode] = sum(a == b for a, b in zip(before, after, strict=True))
        seconds[f"reference_perplexity_{mode}"], _ = timed(
            lambda p=prompts: reference_perplexity(model, tokenizer, p, references))
    seconds["coverage_embedding_passages"], _ = timed(lambda: coverage_of(rows, book.passages, spec.grounding))
    seconds["coverage_stored_vectors"], _ = timed(
        lambda: coverage_of(rows, book.passages, spec.grounding, book.passage_vectors))
    per_model_before = sum(seconds[k] for k in seconds if "question_order" in k or "perplexity" in k)
    per_model_after = sum(seconds[k] for k in seconds if "by_length" in k or k == "reference_perplexity_closed_book")
    record = {
        "what": "one model's (the domain's base) benchmark_report parts on the first N gold questions (qa_id order), "
                "before and after: generation batches, closed-book-only reference perplexity, coverage from stored "
                "passage vectors (computed once per question, shared by every model)",
        "domain": args.domain, "questions": len(rows), "max_new_tokens": max_new, "batch_size_after": batch,
        "seconds": seconds, "identical_answers": same,
        "per_model_seconds_before": round(per_model_before, 1), "per_model_seconds_after": round(per_model_after, 1),
        "per_model_speedup": round(per_model_before / per_model_after, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or 'cpu'}",
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = ROOT / "bench" / "results" / "benchmark_parts.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
