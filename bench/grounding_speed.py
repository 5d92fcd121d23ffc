"""The grounding check's cost in benchmark_report, before and after session 11's two changes, on a domain's gold
questions and its own index: (a) every model's served answers shared one coverage computation per question
instead of one per question and model; (b) the embedder batches texts of similar length instead of padding a
question's sentences to the length of its passages.

    .venv/bin/python bench/grounding_speed.py --warehouse /path/to/warehouse --questions 40

Times the embedder calls of coverage_signals (the dominant part) both ways on the same texts, each the minimum of
--repeats, so other work on the machine inflates both less; writes bench/results/grounding_speed.json.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def padded_to_longest(texts: list[str], batch_size: int = 32):
    """The embedder as it was: batches in input order, each padded to its longest text."""
    import torch
    import torch.nn.functional as F

    from slm_assets.retrieval.embedder import _encoder

    tokenizer, model = _encoder()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=256,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1))
    return torch.cat(out)


def fastest(function, texts, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function(texts)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--domain", default="ev_charging")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--models", type=int, default=3, help="models whose served answers a benchmark grounds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from slm_assets.domains import load_domain
    from slm_assets.evaluate.benchmark import question_of
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.retrieval.embedder import embed
    from slm_assets.retrieval.grounding import passage_sentences
    from slm_assets.retrieval.index import ChunkIndex

    spec = load_domain(args.domain)
    rows, _ = gold_rows(gold_path(spec), spec.system_prompt)
    rows = sorted(rows, key=lambda r: r["qa_id"])[: args.questions]
    index = ChunkIndex.load(args.warehouse / "artifacts" / args.domain / "index")
    calls = []
    for row in rows:
        question = question_of(row)
        passages = [h.text for h in index.search(question, spec.split.context.k_retrieve)]
        calls.append([question, *passages, *(s.text for s in passage_sentences(question, passages))])
    embed(["warm up"])
    before = sum(fastest(padded_to_longest, texts, args.repeats) for texts in calls)
    after = sum(fastest(embed, texts, args.repeats) for texts in calls)
    record = {
        "what": "embedder time of the grounding check's coverage signals for the first N gold questions (qa_id "
                "order) with the domain's own index, as benchmark_report computed them before (padded to the "
                "longest text, once per model) and after (similar-length batches, once per question)",
        "domain": args.domain, "questions": len(calls), "models": args.models,
        "texts_per_call_mean": round(sum(map(len, calls)) / len(calls), 1),
        "seconds_per_call_before": round(before / len(calls), 3), "seconds_per_call_after": round(after / len(calls), 3),
        "benchmark_seconds_per_question_before": round(args.models * before / len(calls), 3),
        "benchmark_seconds_per_question_after": round(after / len(calls), 3),
        "speedup": round(args.models * before / after, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "load_average": os.getloadavg(),
        "torch_threads": __import__("torch").get_num_threads(), "repeats": args.repeats,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = ROOT / "bench" / "results" / "grounding_speed.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
