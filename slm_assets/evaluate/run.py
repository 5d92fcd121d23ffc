"""One evaluation, start to report: scores, the promotion gate, the LLM judge (when given), latency, files.

Shared by the `benchmark_report` asset and user-supplied questions (`slm-assets eval`, the
`evaluate_questions` job), so both write the same report.
"""

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slm_assets.evaluate.benchmark import BenchmarkResult, OpenBook, evaluate_models, tuned_candidates
from slm_assets.evaluate.champion import ChampionStatus
from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.gate import promotion_gate
from slm_assets.evaluate.judge import LLMJudge, judge_rows
from slm_assets.evaluate.latency import measure_latency
from slm_assets.evaluate.report import write_report
from slm_assets.evaluate.timed_run import Workload

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
        """Beats base beyond noise and does not parrot: the base gate of a promotion."""
        return self.gate["passed"]


@dataclass
class EvaluationRequest:
    """What one evaluation asks: the models, the questions, the config, where the report goes, and the optional
    parts (retrieval, judge, latency's GGUF, compared answerers, the champion)."""

    models: dict  # name -> loaded model; "base" is the baseline, the champion (when it loaded) is "champion"
    tokenizer: object
    rows: list[dict]  # benchmark rows: qa_id, prompt, question, reference ...
    config: BenchmarkConfig
    out_dir: Path
    title: str
    open_book: OpenBook | None = None  # also asked with retrieved passages, and as served
    chunk_texts: dict[str, str] | None = None  # chunk id -> text, for groundedness
    judge: LLMJudge | None = None  # an LLM judge, or None with `judge_skipped` saying why
    judge_skipped: str | None = None
    gguf_path: Path | None = None  # the best tuned model's GGUF, timed in llama.cpp, when one exists
    gguf_qtype: str | None = "q4_k_m"  # else one is written to a temporary file in this type ...
    # ... by this writer: (model, tokenizer, qtype, workdir) -> GGUF path (export.gguf.write_temporary_gguf)
    write_gguf: Callable | None = None
    sources: dict[str, str] | None = None  # model name -> what it was loaded from
    intro: str | None = None  # the report's first paragraph
    answerers: dict | None = None  # API models (the teacher) and baselines compared beside the local ones
    notes: list[str] | None = None  # put first among the report's notes
    champion: ChampionStatus | None = None  # the registered champion's status; the promotion compares with it
    progress: Callable[[float, str], None] | None = None  # as in evaluate_models


def run_evaluation(request: EvaluationRequest) -> Evaluation:
    """Scores, the promotion gate, the LLM judge and latency of the best tuned model, written as a report."""
    r, config = request, request.config
    result = evaluate_models(r.models, r.tokenizer, r.rows, config, r.open_book, r.chunk_texts, r.answerers,
                             r.progress)
    result.notes[:0] = list(r.notes or [])
    result.sources = {**dict(r.sources or {}), **{n: a.name for n, a in (r.answerers or {}).items()
                                                  if hasattr(a, "name")}}
    gate = promotion_gate(result, config, r.champion)
    add_llm_judge(result, r)
    if config.latency_prompts:
        result.latency = best_model_latency(r, gate["best_model"])
    else:
        result.notes.append("Latency not measured (benchmark.latency_prompts: 0).")
    files = write_report(result, r.out_dir, r.title, gate, r.intro)
    return Evaluation(result=result, gate=gate, files=files)


def add_llm_judge(result: BenchmarkResult, request: EvaluationRequest) -> None:
    """Each tuned candidate judged against base, or a note saying why there is no LLM judge."""
    config = request.config
    if not config.llm_judge:
        result.notes.append("LLM judge switched off (benchmark.llm_judge: false); reference_f1 only.")
    elif request.judge is None:
        result.notes.append(f"No LLM judge: {request.judge_skipped or 'no LLM teacher configured'}; "
                            "reference_f1 only.")
    else:
        for name in tuned_candidates(result):
            result.llm_judge[name] = judge_rows(request.judge, result.rows, name, "base", config.judge_max_questions)


def best_model_latency(request: EvaluationRequest, best: str) -> dict:
    """measure_latency of the best model on the first prompts; its GGUF is the given one or a temporary one."""
    config, model, tokenizer = request.config, request.models[best], request.tokenizer
    prompts = [r["prompt"] for r in sorted(request.rows, key=lambda r: r["qa_id"])][: config.latency_prompts]
    with tempfile.TemporaryDirectory(prefix="slm-latency-") as tmp:
        gguf, skipped = request.gguf_path, None
        if gguf is None and config.latency_gguf and request.gguf_qtype and request.write_gguf:
            try:
                gguf = request.write_gguf(model, tokenizer, request.gguf_qtype, Path(tmp))
            except ValueError as exc:  # an architecture llama.cpp's converter or quantizer refuses
                skipped = str(exc)
        elif gguf is None and config.latency_gguf and request.gguf_qtype:
            skipped = "no GGUF writer was given"
        elif gguf is None:
            skipped = "benchmark.latency_gguf is false"
        workload = Workload(config.latency_max_new_tokens, config.batch_size, config.latency_fixed_length,
                            config.latency_warmup, config.latency_threads)
        latency = measure_latency(model, tokenizer, prompts, workload, gguf_path=gguf, model_name=best)
    if skipped:
        latency["gguf_skipped"] = skipped
    return latency
