"""Gold-set scores of a materialised domain: base vs its newest lora_adapter vs the BM25 best sentence, each
closed book, open book and as served, on the domain's human-written gold questions (dev and holdout together:
per-question rows, with their ids, are in the JSON). Uses the benchmark's own evaluate_models; no synthetic table, no latency runs, no judge, no reference
perplexity (the slow part on 2 cores, not needed for these figures).

    SLM_WAREHOUSE_DIR=warehouse .venv/bin/python bench/gold.py --domain ev_charging [--adapter DIR] [--dtype bfloat16]

Writes bench/results/gold_<domain>.json (per-model scores for all / dev / holdout, the promotion gate's verdict on
these rows, the dtype, generation time, the machine, the load average) and prints the Markdown table. Not part of
the test suite.
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", required=True)
    parser.add_argument("--adapter", type=Path, default=None, help="default: the newest lora_adapter run folder")
    parser.add_argument("--models", default="base,lora_adapter",
                        help="comma-separated: base and/or lora_adapter (one model halves the time)")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/gold_<domain>.json")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="every model's weights (benchmark.dtype; the domain files use float32)")
    args = parser.parse_args()

    import slm_assets.evaluate.benchmark as benchmark
    from slm_assets.artifacts import latest_run_dir
    from slm_assets.domains import load_domain
    from slm_assets.evaluate.baselines import BestSentenceAnswerer
    from slm_assets.evaluate.domain_benchmark import gold_path, gold_rows
    from slm_assets.evaluate.gate import promotion_gate
    from slm_assets.evaluate.report import markdown_table
    from slm_assets.models import load_tokenizer, load_tuned_model
    from slm_assets.retrieval.index import ChunkIndex
    from slm_assets.settings import Settings
    from slm_assets.warehouse import chunk_texts, connect, document_sources

    settings, spec = Settings(), load_domain(args.domain)
    artifacts = settings.warehouse_dir / "artifacts" / spec.name
    adapter = args.adapter or latest_run_dir(artifacts / "lora") / "adapter"
    cache, load_before, started = settings.models_cache_dir, os.getloadavg(), time.monotonic()
    adapters = {"base": None, "lora_adapter": adapter}
    models = {name: load_tuned_model(spec.base_model, cache, adapters[name], dtype=args.dtype)
              for name in args.models.split(",")}
    with connect(settings.warehouse_dir / "slm.duckdb") as con:
        texts, sources = chunk_texts(con, spec.name), document_sources(con, spec.name)
    rows, evidence = gold_rows(gold_path(spec), spec.system_prompt)
    config = spec.benchmark.model_copy(update={"max_questions": None, "latency_prompts": 0, "llm_judge": False,
                                                "reference_perplexity": False})
    generating = time.monotonic()
    result = benchmark.evaluate_models(
        models, load_tokenizer(spec.base_model, cache), rows, config,
        benchmark.OpenBook(ChunkIndex.load(artifacts / "index"), spec.split.context.k_retrieve, tuple(models),
                           spec.grounding, sources),
        chunk_texts=evidence, answerers={"bm25_sentence": BestSentenceAnswerer(texts)})
    generation_s = time.monotonic() - generating
    table = markdown_table(result)
    print(table)
    gate = promotion_gate(result, config) if len(models) > 1 else None
    if gate is not None:
        print(gate["verdict"])
    out = args.out or ROOT / "bench" / "results" / f"gold_{spec.name}.json"
    by_split = split_scores(result, rows)
    for split, scores in by_split.items():
        print(f"{split}: " + "; ".join(f"{m} RL {v['rouge_l']:.3f} echo {v['echo_rate']:.3f} abstain "
                                         f"{v['abstain_unanswerable']:.3f} answered {v['answered_answerable']:.3f}"
                                         for m, v in scores.items()))
    out.write_text(json.dumps({
        "domain": spec.name, "adapter": str(adapter), "questions": len(rows), "result": result.as_dict(),
        "by_split": by_split, "per_question": result.rows, "dtype": args.dtype,
        "gate": None if gate is None else {k: gate[k] for k in ("best_model", "compared", "improvement_over_base",
                                                                "interval", "passed", "verdict")},
        "table": table, "wall_s": round(time.monotonic() - started, 1), "evaluate_models_s": round(generation_s, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "machine": platform.platform(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }, indent=2, default=str))
    print(f"wrote {out}")


def split_scores(result, rows: list[dict]) -> dict:
    """split (dev, holdout) -> row name -> mean ROUGE-L and token F1, echo rate, abstention and answering rates."""
    from slm_assets.evaluate.benchmark import behaviour

    split_of = {r["qa_id"]: r.get("split", "all") for r in rows}
    by_id = {r["qa_id"]: r for r in rows}
    out: dict = {}
    for split in sorted(set(split_of.values())):
        table = [t for t in result.rows if split_of.get(t["qa_id"]) == split]
        source = [by_id[t["qa_id"]] for t in table]
        out[split] = {name: {"n": len(table),
                             "rouge_l": sum(t[f"{name}_rouge_l"] for t in table) / max(len(table), 1),
                             "token_f1": sum(t[f"{name}_token_f1"] for t in table) / max(len(table), 1),
                             **behaviour(source, [t[f"{name}_answer"] for t in table])}
                      for name in result.models}
    return out


if __name__ == "__main__":
    main()
