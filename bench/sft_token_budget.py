"""How many sft_dataset examples fit the training length: per split and mode (closed book, open book,
unanswerable), the examples whose prompt alone fills `max_length` (TRL drops them: no answer token is left to learn)
and those whose answer is cut (trained without its end and end-of-turn), with the prompts' median and 90th
percentile length. Tokens are counted under the base model's
chat template, as training counts them.

    .venv/bin/python bench/sft_token_budget.py SFT_RUN_DIR [SFT_RUN_DIR ...] --max-length 288 \
        --out bench/results/sft_token_budget_X.json

SFT_RUN_DIR is one sft_dataset run folder (`<warehouse>/artifacts/<domain>/sft/<run id>`, with train.jsonl and
val.jsonl). Reads files only; no model is loaded beyond its tokenizer. Not part of the test suite.
"""

import argparse
import json
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def split_budget(tokenizer, rows: list[dict], max_length: int) -> dict[str, dict]:
    """Per mode: rows, prompts that fill max_length, answers that are cut, and prompt length median / p90."""
    from slm_assets.generation import chat_prompt_ids, example_token_count

    prompts = [len(ids) for ids in chat_prompt_ids(tokenizer, [row["prompt"] for row in rows])]
    wholes = [example_token_count(tokenizer, row) for row in rows]
    by_mode: dict[str, dict] = {}
    lengths: dict[str, list[int]] = {}
    for row, prompt, whole in zip(rows, prompts, wholes, strict=True):
        mode = row.get("mode", "unknown")
        counts = by_mode.setdefault(mode, {"rows": 0, "prompt_fills_max_length": 0, "answer_cut": 0})
        counts["rows"] += 1
        counts["prompt_fills_max_length"] += prompt >= max_length
        counts["answer_cut"] += prompt < max_length < whole
        lengths.setdefault(mode, []).append(prompt)
    for mode, found in lengths.items():
        found.sort()
        by_mode[mode]["prompt_tokens_median"] = statistics.median(found)
        by_mode[mode]["prompt_tokens_p90"] = found[min(len(found) - 1, int(0.9 * len(found)))]
    return by_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="sft_dataset run folders")
    parser.add_argument("--max-length", type=int, default=288, help="the training preset's max_length (demo: 288)")
    parser.add_argument("--base-model", default="bundled:smollm2-135m-instruct")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "warehouse" / "models")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from slm_assets.models import load_tokenizer

    tokenizer = load_tokenizer(args.base_model, args.cache_dir)
    result = {"what": "sft_dataset examples against the training length", "max_length": args.max_length,
              "base_model": args.base_model, "machine": platform.platform(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": {}}
    for run in args.runs:
        result["runs"][str(run)] = {
            split: split_budget(tokenizer, [json.loads(line) for line in (run / f"{split}.jsonl").open()],
                                args.max_length)
            for split in ("train", "val")}
    args.out.write_text(json.dumps(result, indent=1))
    print("| run / split / mode | rows | prompt fills max_length | answer cut | prompt tokens median / p90 |\n"
          "|---|---|---|---|---|")
    for run, splits in result["runs"].items():
        for split, modes in splits.items():
            for mode, c in modes.items():
                print(f"| {Path(run).parts[-3]} / {split} / {mode} | {c['rows']} | {c['prompt_fills_max_length']} | "
                      f"{c['answer_cut']} | {c['prompt_tokens_median']} / {c['prompt_tokens_p90']} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
