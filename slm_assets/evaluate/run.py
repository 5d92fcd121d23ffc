"""One evaluation, start to report: scores, the promotion gate, the LLM judge (when given), latency, files.

Shared by the `benchmark_report` asset and user-supplied questions (`slm-assets eval`, the
`evaluate_questions` job), so both write the same report.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slm_assets.evaluate.benchmark import BenchmarkResult, evaluate_models, tuned_candidates
from slm_assets.evaluate.champion import ChampionStatus
from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.gate import promotion_gate
from slm_assets.evaluate.judge import LLMJudge, judge_rows
from slm_assets.evaluate.latency import measure_latency, write_temporary_gguf
from slm_assets.evaluate.report import write_report

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    result: BenchmarkResult
    gate: dict  # gate.promotion_gate's keys: primary_metric, best_model, interval, passed, verdict ...
    files: dict[str, str]

    @property
    def best(self) -> str:
        return self.gate["best_model"]

    @property
    def passed(self) -> bool:
        return self.gate["passed"]


def run_evaluation(models: dict, tokenizer, rows: list[dict], config: BenchmarkConfig, out_dir: Path, title: str, *,
                   index=None, k: int = 2, chunk_texts: dict[str, str] | None = None, judge: LLMJudge | None = None,
                   judge_skipped: str | None = None, gguf_path: Path | None = None, gguf_qtype: str | None = "q4_k_m",
                   sources: dict[str, str] | None = None, intro: str | None = None,
                   answerers: dict | None = None, notes: list[str] | None = None, grounding=None,
                   doc_sources: dict[str, str] | None = None,
                   open_book: tuple[str, ...] = ("base", "lora_adapter"),
                   champion: ChampionStatus | None = None) -> Evaluation:
    """`judge`: an LLM judge, or None with `judge_skipped` saying why. Latency is timed on the best tuned
    model; its GGUF is `gguf_path` when one exists, else written to a temporary file as `gguf_qtype`.
    `answerers`: API models (the teacher) and baselines compared beside the local ones; `grounding`,
    `doc_sources` and `open_book` as in evaluate_models. `champion`: the registered champion's status; when it
    loaded, `models` holds it as `champion` and the promotion compares with it."""
    result = evaluate_models(models, tokenizer, rows, config, index=index, k=k, chunk_texts=chunk_texts,
                             answerers=answerers, grounding=grounding, doc_sources=doc_sources, open_book=open_book)
    result.notes[:0] = list(notes or [])
    result.sources = {**dict(sources or {}), **{n: a.name for n, a in (answerers or {}).items() if hasattr(a, "name")}}
    gate = promotion_gate(result, config, champion)
    best = gate["best_model"]

    if not config.llm_judge:
        result.notes.append("LLM judge switched off (benchmark.llm_judge: false); reference_f1 only.")
    elif judge is None:
        result.notes.append(f"No LLM judge: {judge_skipped or 'no LLM teacher configured'}; reference_f1 only.")
    else:
        for name in tuned_candidates(result):
            result.llm_judge[name] = judge_rows(judge, result.rows, name, "base", config.judge_max_questions)

    if config.latency_prompts:
        prompts = [r["prompt"] for r in sorted(rows, key=lambda r: r["qa_id"])][: config.latency_prompts]
        with tempfile.TemporaryDirectory(prefix="slm-latency-") as tmp:
            gguf, skipped = gguf_path, None
            if gguf is None and config.latency_gguf and gguf_qtype:
                try:
                    gguf = write_temporary_gguf(models[best], tokenizer, gguf_qtype, Path(tmp))
                except ValueError as exc:  # an architecture llama.cpp's converter or quantizer refuses
                    skipped = str(exc)
            elif gguf is None:
                skipped = "benchmark.latency_gguf is false"
            result.latency = measure_latency(
                models[best], tokenizer, prompts, config.latency_max_new_tokens, config.batch_size,
                config.latency_fixed_length, config.latency_warmup, gguf_path=gguf, model_name=best,
                threads=config.latency_threads)
            if skipped:
                result.latency["gguf_skipped"] = skipped
    else:
        result.notes.append("Latency not measured (benchmark.latency_prompts: 0).")

    files = write_report(result, out_dir, title, gate, intro)
    return Evaluation(result=result, gate=gate, files=files)
