"""How many sft_dataset examples fit the training length: per split and mode (closed book, open book,
unanswerable), the examples whose prompt alone fills `max_length` (TRL drops them: no answer token is left to learn)
and those whose answer is cut (trained without its end and end-of-turn). Tokens are counted under the base model's
chat template, as training counts them.

    .venv/bin/python bench/sft_token_budget.py SFT_RUN_DIR [SFT_RUN_DIR ...] --max-length 288 \
        --out bench/results/sft_token_budget_X.json

SFT_RUN_DIR is one sft_dataset run folder (`<warehouse>/artifacts/<domain>/sft/<run id>`, with train.jsonl and
val.jsonl). Reads files only; no model is loaded beyond its tokenizer. Not part of the test suite.
"""

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def token_count(tokenizer, messages: list[dict], prompt_only: bool) -> int:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=prompt_only, tokenize=True, return_dict=False)
    return len(ids["input_ids"] if isinstance(ids, dict) else ids)


def split_budget(tokenizer, rows: list[dict], max_length: int) -> dict[str, dict[str, int]]:
    by_mode: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_mode.setdefault(row.get("mode", "unknown"), {"rows": 0, "prompt_fills_max_length": 0,
                                                                  "answer_cut": 0})
        counts["rows"] += 1
        if token_count(tokenizer, row["prompt"], prompt_only=True) >= max_length:
            counts["prompt_fills_max_length"] += 1
        elif token_count(tokenizer, row["prompt"] + row["completion"], prompt_only=False) > max_length:
            counts["answer_cut"] += 1
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
    print("| run / split / mode | rows | prompt fills max_length | answer cut |\n|---|---|---|---|")
    for run, splits in result["runs"].items():
        for split, modes in splits.items():
            for mode, c in modes.items():
                print(f"| {Path(run).parts[-3]} / {split} / {mode} | {c['rows']} | {c['prompt_fills_max_length']} | "
                      f"{c['answer_cut']} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
