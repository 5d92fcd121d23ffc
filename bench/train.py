"""Training throughput and memory: the `lora_adapter` trainer against a plain PEFT loop, same model, data and batch.

Variants, each in its own process (peak memory is per process):
  plain_peft    a plain PyTorch loop over a PEFT LoRA model (r 16, all linear layers, LoRA dropout 0.05 as the
                project used before, fp32): shuffled batches padded to their longest row, full (B, T, V) logits
                and transformers' own loss with prompt tokens masked, AdamW, the same cosine schedule
  ours          what `lora_adapter` runs: TRL's SFTTrainer with slm_assets.train.lora.sft_arguments (evaluation
                and checkpoints off) and its trainer class (logits at completion positions only, no per-step
                entropy/accuracy), LoRA dropout 0
  ours_bf16     optional: ours with bf16 autocast on the CPU as well (fp32 master weights; native on CPUs with
                AVX512-BF16 or AMX)
  sft_stock     optional: the same arguments with TRL's stock compute_loss and dropout 0.05 (the trainer before)
  trl_defaults  optional: SFTConfig with only the shared settings (TRL's defaults otherwise)
  unsloth       optional, CUDA with the package installed: ours with the model loaded and wrapped by Unsloth

Both default variants report the validation loss curve on the same held-out rows, computed the same way (full
logits, one row at a time, token-weighted completion cross-entropy); evaluation time is excluded from the train
tokens/s. Train tokens = non-padding tokens; `padded_tokens` counts every position computed.

On CPU the model is the bundled SmolLM2-135M-Instruct; with --gpu-shape it is a randomly initialised
Llama-3.2-1B-shaped model at sequence 2048 (no weights travel), for GPU machines.

    python bench/train.py [--steps 12] [--seq 288] [--eval-every 4] [--val-examples 32] [--micro-batch 2]
                          [--variants plain_peft,ours]

Writes bench/results/train.json (with the machine's load average before and after: the machine may be shared)
and prints Markdown tables.
"""

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
DROPOUT = {"plain_peft": 0.05, "sft_stock": 0.05, "trl_defaults": 0.05, "ours": 0.0, "ours_bf16": 0.0, "unsloth": 0.0}
MICRO_BATCH: dict[str, int] = {}  # ours and ours_bf16 only, from --micro-batch; the others run the whole batch


def make_rows(n: int, seed: int = 0, max_words: int = 60) -> list[dict]:
    """QA-shaped chat examples of varied length (answers 8 to `max_words` words), as the pipeline produces."""
    rng = random.Random(seed)
    words = ("charger connector power current voltage cable station vehicle battery phase socket grid tariff "
             "session network protocol inverter circuit breaker kilowatt").split()
    rows = []
    for i in range(n):
        answer = " ".join(rng.choice(words) for _ in range(rng.randint(8, max_words))) + "."
        rows.append({"prompt": [{"role": "system", "content": "You answer questions about EV charging."},
                                {"role": "user", "content": f"Question {i}: what about {rng.choice(words)}?"}],
                     "completion": [{"role": "assistant", "content": answer}]})
    return rows


def answer_words(seq: int) -> int:
    """Longest answer that still fits `seq` tokens with the prompt (about a token a word for these words, ~45
    prompt and end tokens), so neither trainer truncates and both see exactly the same tokens."""
    return max(8, seq - 56)


def bench_data(examples: int, seq: int, val_examples: int):
    return (make_rows(examples, seed=0, max_words=answer_words(seq)),
            make_rows(val_examples, seed=1, max_words=answer_words(seq)))


class Curve:
    """Validation loss at chosen steps; the time spent evaluating is kept apart from training time."""

    def __init__(self, tokenizer, val_rows: list[dict], seq: int, every: int):
        from slm_assets.losses import encode_chat

        self.examples = [encode_chat(tokenizer, r["prompt"], r["completion"][0]["content"], seq) for r in val_rows]
        self.pad_id, self.every = tokenizer.pad_token_id, every
        self.points: list[dict] = []
        self.eval_s = 0.0

    def maybe(self, model, step: int, last: bool = False) -> None:
        if step % self.every and not last:
            return
        from slm_assets.losses import answer_loss

        started = time.perf_counter()
        loss = answer_loss(model, self.examples, self.pad_id, str(model.device), batch_size=1)  # no padding
        model.train()
        self.eval_s += time.perf_counter() - started
        self.points.append({"step": step, "val_loss": round(loss, 5)})


def train_config(variant: str, steps: int, seq: int, cuda: bool):
    from slm_assets.train.config import train_config_from

    return train_config_from({"preset": "full" if cuda else "demo", "max_steps": steps, "per_device_batch_size": 8,
                              "max_length": seq, "gradient_checkpointing": cuda and seq > 1024,
                              "lora": {**LORA, "dropout": DROPOUT[variant]},
                              "micro_batch_size": MICRO_BATCH.get(variant)})


def run_plain(model_dir: str, rows, curve: Curve, config) -> dict:
    """The baseline loop: PEFT LoRA, random batches padded to their longest row, the model's own loss."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

    from slm_assets.losses import encode_chat, pad_batch
    from slm_assets.train.lora import peft_lora_config

    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = [encode_chat(tokenizer, r["prompt"], r["completion"][0]["content"], config.max_length) for r in rows]
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32),
                           peft_lora_config(config.lora))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.max_steps), config.max_steps)
    order = random.Random(config.seed)
    tokens = padded = 0
    curve.maybe(model, 0)
    model.train()
    started = time.perf_counter()
    for step in range(1, config.max_steps + 1):
        ids, mask, labels = pad_batch(order.sample(examples, config.per_device_batch_size), tokenizer.pad_token_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens, padded = tokens + int(mask.sum()), padded + mask.numel()
        curve.maybe(model, step, last=step == config.max_steps)
    return {"tokens": tokens, "padded_tokens": padded, "wall_s": time.perf_counter() - started - curve.eval_s}


def trainer_arguments(variant: str, config, device: str, output_dir: Path):
    from trl import SFTConfig

    from slm_assets.train.lora import sft_arguments, use_packing

    if variant == "trl_defaults":
        # TRL's own defaults otherwise (gradient checkpointing on, random sampling, entropy/accuracy metrics)
        return SFTConfig(output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=8,
                         learning_rate=config.learning_rate, logging_steps=1, report_to="none", save_strategy="no",
                         use_cpu=device != "cuda", bf16=device == "cuda", include_num_input_tokens_seen="non_padding",
                         disable_tqdm=True, max_length=config.max_length)
    packing = use_packing(config.packing, device)  # padding-free packing where FlashAttention is installed
    # ours_bf16: the same with bf16 autocast on the CPU too (fp32 master weights)
    return sft_arguments(config, device, output_dir, packing=packing, eval_strategy="no", save_strategy="no",
                         load_best_model_at_end=False, **({"bf16": True} if variant == "ours_bf16" else {}))


def run_trainer(variant: str, model_dir: str, rows, curve: Curve, config, device: str) -> dict:
    """An SFTTrainer variant; `ours` uses the class `lora_adapter` trains with."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTTrainer

    from slm_assets.train.lora import (
        load_base_for_training,
        load_with_unsloth,
        peft_lora_config,
        sft_trainer_class,
    )

    output_dir = Path(f"/tmp/bench_train_{variant}")
    args = trainer_arguments(variant, config, device, output_dir)
    peft_config = peft_lora_config(config.lora)
    if variant == "unsloth":
        model, _ = load_with_unsloth(model_dir, output_dir, config)
        peft_config = None
    elif variant in ("ours", "ours_bf16"):
        model = load_base_for_training(model_dir, output_dir, config.lora, device, flash_attention=args.packing)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    trainer_class = SFTTrainer
    if variant in ("ours", "ours_bf16", "unsloth"):
        trainer_class = sft_trainer_class("unsloth" if variant == "unsloth" else "transformers")

    class Evaluate(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            curve.maybe(model, state.global_step, last=state.global_step == state.max_steps)

    trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows),
                            processing_class=AutoTokenizer.from_pretrained(model_dir), peft_config=peft_config,
                            callbacks=[Evaluate()])
    padded = [0]
    collate = trainer.data_collator

    def counting_collator(features):
        batch = collate(features)
        padded[0] += batch["input_ids"].numel()
        return batch

    trainer.data_collator = counting_collator
    curve.maybe(trainer.model, 0)
    started = time.perf_counter()
    trainer.train()
    if device == "cuda":
        torch.cuda.synchronize()
    return {"tokens": int(trainer.state.num_input_tokens_seen), "padded_tokens": padded[0],
            "wall_s": time.perf_counter() - started - curve.eval_s,
            "gradient_checkpointing": bool(args.gradient_checkpointing), "packing": bool(args.packing),
            "mixed_precision": str(trainer.accelerator.mixed_precision)}


def run_one(variant: str, model_dir: str, steps: int, examples: int, seq: int, eval_every: int,
            val_examples: int) -> dict:
    """One variant in this process."""
    if variant == "unsloth":
        import unsloth  # noqa: F401  (first: it patches transformers and TRL)
    import torch
    from transformers import AutoTokenizer

    sys.path.insert(0, str(ROOT))
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    config = train_config(variant, steps, seq, cuda)
    rows, val_rows = bench_data(examples, seq, val_examples)
    curve = Curve(AutoTokenizer.from_pretrained(model_dir), val_rows, seq, eval_every)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if variant == "plain_peft":
        result = run_plain(model_dir, rows, curve, config)
    else:
        result = run_trainer(variant, model_dir, rows, curve, config, device)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    wall = result.pop("wall_s")
    return {"variant": variant, "steps": steps, "batch": config.per_device_batch_size,
            "micro_batch": config.rows_per_pass, "seq": seq,
            "lora_dropout": config.lora.dropout, **result, "train_wall_s": round(wall, 2),
            "eval_wall_s": round(curve.eval_s, 2), "tokens_per_s": round(result["tokens"] / wall, 1),
            "padded_tokens_per_s": round(result["padded_tokens"] / wall, 1), "peak_memory_mb": round(peak, 1),
            "peak_memory_kind": "cuda max allocated" if cuda else "process peak RSS",
            "device": torch.cuda.get_device_name() if cuda else f"cpu x{len(os.sched_getaffinity(0))}",
            "torch_threads": torch.get_num_threads(), "val_curve": curve.points}


def gpu_shaped_model(path: Path, tokenizer_dir: str) -> str:
    """Llama-3.2-1B shapes with random weights (nothing is downloaded)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=4096,
                         tie_word_embeddings=True, rope_theta=500000.0)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def machine() -> dict:
    from importlib.metadata import version

    return {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "peft", "trl")}}


def print_tables(report: dict) -> None:
    results = report["results"]
    print("| variant | train tokens/s | padded positions/s | peak memory (MiB) | train wall (s) | LoRA dropout | device |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['tokens_per_s']} | {r['padded_tokens_per_s']} | {r['peak_memory_mb']} | "
              f"{r['train_wall_s']} | {r['lora_dropout']} | {r['device']} |")
    steps = sorted({p["step"] for r in results for p in r["val_curve"]})
    print("\n| step | " + " | ".join(f"{r['variant']} val loss" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for step in steps:
        cells = [next((f"{p['val_loss']:.4f}" for p in r["val_curve"] if p["step"] == step), "-") for r in results]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(f"\nload average before {report['load_before']}, after {report['load_after']}")
    for name, ratio in report["ratios"].items():
        print(f"{name}: {ratio}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--seq", type=int, default=288, help="max_length (CPU); --gpu-shape uses 2048.")
    parser.add_argument("--eval-every", type=int, default=4, help="Validation loss every N steps (and at the end).")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="ours only: rows per pass (TrainConfig.micro_batch_size); default the whole batch.")
    parser.add_argument("--val-examples", type=int, default=32, help="Held-out rows for the validation curve.")
    parser.add_argument("--variants", default="plain_peft,ours",
                        help="Comma-separated: plain_peft, ours, ours_bf16, sft_stock, trl_defaults, unsloth.")
    parser.add_argument("--gpu-shape", action="store_true", help="Llama-3.2-1B-shaped random model, seq 2048.")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="Result file (default bench/results/train.json, train_gpu.json with --gpu-shape).")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.micro_batch:
        MICRO_BATCH["ours"] = MICRO_BATCH["ours_bf16"] = args.micro_batch
    seq = 2048 if args.gpu_shape else args.seq
    if args.child:
        print(json.dumps(run_one(args.child, args.model_dir, args.steps, args.examples, seq, args.eval_every,
                                    args.val_examples)))
        return

    sys.path.insert(0, str(ROOT))
    from slm_assets.models import resolve_model

    model_dir = resolve_model("bundled:smollm2-135m-instruct", ROOT / "warehouse" / "models")
    if args.gpu_shape:
        model_dir = gpu_shaped_model(Path("/tmp/llama32_1b_shape"), model_dir)
    load_before = os.getloadavg()
    results = []
    for variant in args.variants.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--model-dir", model_dir,
                              "--steps", str(args.steps), "--examples", str(args.examples), "--seq", str(args.seq),
                              "--eval-every", str(args.eval_every), "--val-examples", str(args.val_examples)]
                             + (["--micro-batch", str(args.micro_batch)] if args.micro_batch else []) + (["--gpu-shape"] if args.gpu_shape else []),
                             capture_output=True, text=True, check=True)
        results.append({**json.loads(out.stdout.strip().splitlines()[-1]), "load_after": os.getloadavg()})
    by_name = {r["variant"]: r for r in results}
    ratios = {}
    if "plain_peft" in by_name and "ours" in by_name:
        ratios["tokens/s ours / plain_peft"] = round(by_name["ours"]["tokens_per_s"] / by_name["plain_peft"]["tokens_per_s"], 2)
        ratios["peak memory ours / plain_peft"] = round(by_name["ours"]["peak_memory_mb"] / by_name["plain_peft"]["peak_memory_mb"], 2)
    if "ours_bf16" in by_name and "ours" in by_name:
        ratios["tokens/s ours_bf16 / ours"] = round(by_name["ours_bf16"]["tokens_per_s"] / by_name["ours"]["tokens_per_s"], 2)
    report = {"command": " ".join(["python", "bench/train.py", *sys.argv[1:]]), "machine": machine(), "load_before": load_before, "load_after": os.getloadavg(),
              "note": "load averages are of the whole machine; other work may have shared the cores",
              "ratios": ratios, "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (args.out or RESULTS / ("train_gpu.json" if args.gpu_shape else "train.json")).write_text(json.dumps(report, indent=2))
    print_tables(report)


if __name__ == "__main__":
    main()
