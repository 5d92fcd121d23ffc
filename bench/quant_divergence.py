"""How far a GGUF's next-token distribution moves from the merged HF model it was exported from, at the end of
chat-formatted test prompts: the largest and mean |logit difference|, the largest among HF's top 40 tokens, and
the KL divergence KL(HF || GGUF), as llama.cpp's `llama-perplexity --kl-divergence` reports it for whole texts.

    .venv/bin/python bench/quant_divergence.py --merged BUNDLE/merged --sft SFT_RUN_DIR --gguf A.gguf [B.gguf ...]
        [--importance-texts 64] [--prompts 3] --out bench/results/quant_divergence_<name>.json

`--importance-texts N` also quantises the merged model to q4_k_m with an importance matrix from N SFT training
examples under the chat template (what `export.importance_texts` does) and measures that file too. Not part of the
test suite.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def divergence(hf_logits, gguf_logits) -> dict:
    import numpy as np

    diff = np.abs(hf_logits - gguf_logits)
    top = np.argsort(-hf_logits)[:40]
    log_p = hf_logits - hf_logits.max() - np.log(np.exp(hf_logits - hf_logits.max()).sum())
    log_q = gguf_logits - gguf_logits.max() - np.log(np.exp(gguf_logits - gguf_logits.max()).sum())
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "top40_max_abs_diff": float(diff[top].max()), "kl": float((np.exp(log_p) * (log_p - log_q)).sum()),
            "hf_logit_span": float(hf_logits.max() - hf_logits.min()),
            "same_argmax": bool(hf_logits.argmax() == gguf_logits.argmax())}


def measure(merged: Path, prompts: list[str], ggufs: dict[str, Path]) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slm_assets.export.parity import _open_gguf
    from slm_assets.generation import templated_prompts

    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    model = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32).eval()
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"]
           for t in templated_prompts(tokenizer, [[{"role": "user", "content": p}] for p in prompts])]
    with torch.no_grad():
        hf = [model(input_ids=torch.tensor([i])).logits[0, -1].double().numpy() for i in ids]
    out = {}
    for label, path in ggufs.items():
        llm = _open_gguf(path, max(len(i) for i in ids) + 8)
        per_prompt = []
        try:
            for prompt_ids, hf_logits in zip(ids, hf, strict=True):
                llm.reset()
                llm.eval(prompt_ids)
                per_prompt.append(divergence(hf_logits, np.asarray(llm.scores[len(prompt_ids) - 1], dtype=np.float64)))
        finally:
            llm.close()
        out[label] = {"file": path.name, "per_prompt": per_prompt,
                      "max_abs_diff": max(p["max_abs_diff"] for p in per_prompt),
                      "kl_range": [min(p["kl"] for p in per_prompt), max(p["kl"] for p in per_prompt)]}
        print(f"{label}: max |dlogit| {out[label]['max_abs_diff']:.2f}, KL {out[label]['kl_range'][0]:.4f}-"
              f"{out[label]['kl_range'][1]:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merged", type=Path, required=True)
    parser.add_argument("--sft", type=Path, required=True, help="the sft_dataset run folder (test and train splits)")
    parser.add_argument("--gguf", type=Path, nargs="+", required=True)
    parser.add_argument("--prompts", type=int, default=3, help="first test prompts, as gguf_parity takes them")
    parser.add_argument("--importance-texts", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from slm_assets.export.gguf import export_ggufs
    from slm_assets.export.imatrix import chat_calibration_texts
    from slm_assets.train.sft_data import read_split

    load_before, started = os.getloadavg(), time.monotonic()
    prompts = [r["prompt"][-1]["content"] for r in read_split(args.sft, "test")[: args.prompts]]
    ggufs = {path.stem: path for path in args.gguf}
    with tempfile.TemporaryDirectory(prefix="bench-divergence-") as tmp:
        if args.importance_texts:
            texts = chat_calibration_texts(args.merged, read_split(args.sft, "train"), args.importance_texts)
            info = export_ggufs(args.merged, Path(tmp), "model", ["q4_k_m"], calibration=texts)["q4_k_m"]
            ggufs["q4_k_m+imatrix"] = info.path
        results = measure(args.merged, prompts, ggufs)
    args.out.write_text(json.dumps({
        "merged": str(args.merged), "prompts": prompts, "importance_texts": args.importance_texts,
        "results": results, "wall_s": round(time.monotonic() - started, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "machine": platform.platform(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
