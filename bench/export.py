"""Export benchmark: per quantisation, conversion/quantisation time, file size, perplexity on held-out
EV-charging text (llama.cpp logits), decode tokens/s, and the parity figures the gguf_parity
tolerances come from; each against the f16 file, in one run.

    .venv/bin/python bench/export.py [--model bundled:smollm2-135m-instruct] [--windows 8] [--threads 2]

Held-out text: the sample HTML pages of the demo domain, as plain text, cut into 256-token windows
(the bundled model was never trained on them; the demo's tuned model is trained on QA made from them,
so for a tuned model pick other text with --text-dir). Writes bench/results/export.json and prints a
Markdown table. Not part of the test suite.

`--tensor-types` adds a row `<q>+types` per quantised type but q8_0, quantised with those tensor-type overrides
(default: export.tensor_types' default, as gguf_export makes it; the plain rows are llama.cpp's own mix).

`--importance-texts N` adds a row `<q>+imatrix` per quantised type, quantised with an importance matrix
(export.imatrix) as gguf_export makes it. The pages are then split: every other page gives the N
calibration texts (paragraph groups), the other half is the held-out text every row is measured on.
"""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

QTYPES = ["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]
PARITY_PROMPTS = [
    "What is the difference between AC and DC charging for an electric car?",
    "How long does it take to charge a 60 kWh battery at a 7 kW home charger?",
    "Which connector do most European fast chargers use?",
    "What does load management do at a site with many chargers?",
    "Why does charging slow down above 80 percent state of charge?",
]
DECODE_PROMPT = "Explain in detail how DC fast charging of an electric car works, step by step."


def page_texts(text_dir: Path) -> list[str]:
    from bs4 import BeautifulSoup

    return [BeautifulSoup(p.read_bytes(), "html.parser").get_text(" ", strip=True)
            for p in sorted(text_dir.glob("*.html"))]


def calibration_texts(pages: list[str], n: int, words: int = 200) -> list[str]:
    """At most `n` texts of about `words` words each, in page order."""
    from slm_assets.export.imatrix import evenly_spaced

    pieces = [" ".join(page.split()[i:i + words]) for page in pages for i in range(0, len(page.split()), words)]
    return evenly_spaced(pieces, n)


def perplexity(llm, text: str, window: int, n_windows: int) -> dict:
    """exp(mean next-token NLL) over the first `n_windows` non-overlapping windows of `text`."""
    import numpy as np

    ids = llm.tokenize(text.encode("utf-8"), add_bos=False)
    nll, count = 0.0, 0
    for start in range(0, min(len(ids) - window, n_windows * window), window):
        chunk = ids[start:start + window]
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[: len(chunk) - 1], dtype=np.float64)  # (T-1, V)
        logits -= logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        nll -= float(log_probs[np.arange(len(chunk) - 1), chunk[1:]].sum())
        count += len(chunk) - 1
    return {"perplexity": math.exp(nll / count), "tokens_scored": count}


def decode_speed(llm, n_tokens: int) -> float:
    """Greedy tokens/s after the prompt, end-of-sequence ignored (every quantisation does equal work)."""
    import numpy as np

    llm.reset()
    llm.eval(llm.tokenize(DECODE_PROMPT.encode("utf-8"), add_bos=False))
    next_id = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    started = time.perf_counter()
    for _ in range(n_tokens):
        llm.eval([next_id])
        next_id = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    return n_tokens / (time.perf_counter() - started)


def measure(path: Path, text: str, args) -> dict:
    from slm_assets.llama_models import open_llama

    llm = open_llama(path, n_ctx=args.window + 8, n_threads=args.threads, n_threads_batch=args.threads,
                     logits_all=True)
    try:
        ppl = perplexity(llm, text, args.window, args.windows)
        speed = decode_speed(llm, args.decode_tokens)
    finally:
        llm.close()
    return {**ppl, "decode_tokens_per_s": speed}


def parity_figures(model_dir: Path, path: Path, max_new_tokens: int) -> dict:
    from slm_assets.export.parity import check_parity

    report = check_parity(model_dir, path, PARITY_PROMPTS, max_new_tokens=max_new_tokens, tolerance=1e9)
    return {"max_logit_diff": report.max_logit_diff, "top1_agreement": report.top1_agreement,
            "forced_top1_agreement": report.forced_top1_agreement, "greedy_match_rate": report.greedy_match_rate,
            "tokens_match": report.tokens_match}


def run(args) -> dict:
    from slm_assets.export.gguf import convert_to_gguf, quantize_gguf, uses_importance
    from slm_assets.export.imatrix import importance_for_model
    from slm_assets.llama_models import gguf_architecture
    from slm_assets.models import resolve_model
    from slm_assets.settings import get_settings

    model_dir = Path(resolve_model(args.model, get_settings().models_cache_dir))
    pages = page_texts(args.text_dir)
    calibration = calibration_texts(pages[0::2], args.importance_texts) if args.importance_texts else []
    text = "\n\n".join(pages[1::2] if calibration else pages)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        f16 = convert_to_gguf(model_dir, Path(tmp) / "model-f16.gguf", "f16")
        runs = [(qtype, qtype, None, None) for qtype in args.quantizations]
        if args.tensor_types:
            runs += [(f"{qtype}+types", qtype, None, args.tensor_types) for qtype in args.quantizations
                     if qtype not in ("f16", "q8_0")]
        if calibration:
            matrix = importance_for_model(model_dir, calibration, gguf_architecture(f16.path))
            runs += [(f"{qtype}+imatrix", qtype, matrix, None) for qtype in args.quantizations
                     if uses_importance(qtype)]
        for label, qtype, matrix, types in runs:
            info = f16 if qtype == "f16" else quantize_gguf(f16.path, Path(tmp) / f"model-{label}.gguf", qtype,
                                                             threads=args.threads, importance=matrix,
                                                             tensor_types=types)
            row = {"seconds": info.seconds, "total_seconds": f16.seconds + (0 if qtype == "f16" else info.seconds),
                   "mib": info.n_bytes / 2**20, **measure(info.path, text, args)}
            row["parity"] = parity_figures(model_dir, info.path, args.parity_tokens)
            results[label] = row
            print(f"{label}: {json.dumps(row)}", flush=True)
    base = results.get("f16")
    for row in results.values():
        if base:
            row["perplexity_vs_f16"] = row["perplexity"] / base["perplexity"]
            row["speed_vs_f16"] = row["decode_tokens_per_s"] / base["decode_tokens_per_s"]
    return results


def table(results: dict) -> str:
    lines = ["| quant | convert+quantize s | MiB | perplexity (vs f16) | decode tok/s (vs f16) | max dlogit | "
             "forced top-1 |", "|---|---|---|---|---|---|---|"]
    for qtype, r in results.items():
        lines.append(f"| {qtype} | {r['total_seconds']:.1f} | {r['mib']:.1f} | {r['perplexity']:.2f} "
                     f"({r.get('perplexity_vs_f16', 1):.3f}x) | {r['decode_tokens_per_s']:.0f} "
                     f"({r.get('speed_vs_f16', 1):.2f}x) | {r['parity']['max_logit_diff']:.3f} | "
                     f"{r['parity']['forced_top1_agreement']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    from slm_assets.export.config import ExportConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled:smollm2-135m-instruct")
    parser.add_argument("--quantizations", nargs="+", default=QTYPES)
    parser.add_argument("--text-dir", type=Path, default=ROOT / "samples/ev_charging/html")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--parity-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--importance-texts", type=int, default=0, help="also quantise with an importance matrix")
    parser.add_argument("--tensor-types", type=json.loads, default=ExportConfig().tensor_types,
                        help='also quantise with these tensor-type overrides, as JSON (default: the export\'s '
                        'default; \'{}\' for none)')
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/export.json")
    args = parser.parse_args()
    # before llama_cpp loads: spinning OpenMP workers made decode ~70x slower on this busy 2-core machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    load_before = os.getloadavg()
    started = time.perf_counter()
    results = run(args)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "model": args.model,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                    "note": "shared machine: other engineers' jobs ran at the same time; speeds are indicative"},
        "held_out": {"text_dir": str(args.text_dir.relative_to(ROOT)) if args.text_dir.is_relative_to(ROOT)
                     else str(args.text_dir), "window": args.window, "windows": args.windows,
                     "pages": "every other page (the rest calibrate)" if args.importance_texts else "all",
                     "importance_texts": args.importance_texts},
        "tensor_types": args.tensor_types,
        "parity_prompts": PARITY_PROMPTS, "wall_s": time.perf_counter() - started, "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
