"""Training throughput: our SFT configuration vs plain TRL SFTTrainer defaults (and Unsloth when it is
installed on CUDA), same data and model.

Each configuration runs in its own process (peak memory is per process). On CPU the model is the
bundled SmolLM2-135M-Instruct; with --gpu-shape it is a randomly initialised Llama-3.2-1B-shaped
model at sequence 2048 (no weights travel), for GPU machines.

    python bench/train.py [--steps 8] [--examples 256] [--gpu-shape]

Writes bench/results/train.json and prints a Markdown table.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


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


def run_one(variant: str, model_dir: str, steps: int, examples: int, seq: int) -> dict:
    """One configuration in this process: `ours` = the arguments `lora_adapter` trains with
    (slm_assets.train.lora.sft_arguments, evaluation and checkpoints off), `trl_defaults` = SFTConfig with
    only the shared settings, `unsloth` = ours with the model loaded and wrapped by Unsloth."""
    if variant == "unsloth":
        import unsloth  # noqa: F401  (first: it patches transformers and TRL)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    sys.path.insert(0, str(ROOT))
    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import (
        load_base_for_training,
        load_with_unsloth,
        peft_lora_config,
        sft_arguments,
        use_packing,
    )

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    config = train_config_from({"preset": "full" if cuda else "demo", "max_steps": steps, "per_device_batch_size": 8,
                                "max_length": seq, "gradient_checkpointing": cuda and seq > 1024,
                                "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}})
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data = Dataset.from_list(make_rows(examples, max_words=60 if seq <= 256 else seq * 3 // 4))
    output_dir = Path(f"/tmp/bench_train_{variant}")
    peft_config = peft_lora_config(config.lora)
    if variant == "trl_defaults":
        # TRL's own defaults otherwise (gradient checkpointing on, random sampling, entropy/accuracy metrics)
        args = SFTConfig(output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=8,
                         learning_rate=config.learning_rate, logging_steps=1, report_to="none", save_strategy="no",
                         use_cpu=not cuda, bf16=cuda, include_num_input_tokens_seen="non_padding", disable_tqdm=True,
                         max_length=seq)
    else:
        packing = use_packing(config.packing, device)  # padding-free packing where FlashAttention is installed
        args = sft_arguments(config, device, output_dir, packing=packing, eval_strategy="no", save_strategy="no",
                             load_best_model_at_end=False)
    if variant == "unsloth":
        model, _ = load_with_unsloth(model_dir, output_dir, config)
        peft_config = None
    elif variant == "ours":
        model = load_base_for_training(model_dir, output_dir, config.lora, device, flash_attention=args.packing)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=peft_config)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    trainer.train()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    tokens = int(trainer.state.num_input_tokens_seen)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result = {"variant": variant, "steps": steps, "seq": seq, "tokens": tokens, "wall_s": round(wall, 2),
              "tokens_per_s": round(tokens / wall, 1), "peak_memory_mb": round(peak, 1),
              "device": torch.cuda.get_device_name() if cuda else f"cpu x{len(os.sched_getaffinity(0))}",
              "gradient_checkpointing": bool(args.gradient_checkpointing), "packing": bool(args.packing)}
    if cuda:  # model FLOPs utilisation: 6 * params * tokens (forward + backward), against bf16 dense peak
        n_params = sum(p.numel() for p in model.parameters())
        peak_flops = float(os.environ.get("PEAK_TFLOPS", "989")) * 1e12
        result["mfu"] = round(6 * n_params * tokens / wall / peak_flops, 4)
    return result

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--gpu-shape", action="store_true", help="Llama-3.2-1B-shaped random model, seq 2048.")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        print(json.dumps(run_one(args.child, args.model_dir, args.steps, args.examples, 2048 if args.gpu_shape else 256)))
        return

    sys.path.insert(0, str(ROOT))
    from slm_assets.models import resolve_model

    model_dir = resolve_model("bundled:smollm2-135m-instruct", ROOT / "warehouse" / "models")
    if args.gpu_shape:
        model_dir = gpu_shaped_model(Path("/tmp/llama32_1b_shape"), model_dir)
    import importlib.util

    import torch

    variants = ["ours", "trl_defaults"]
    if torch.cuda.is_available() and importlib.util.find_spec("unsloth"):
        variants.append("unsloth")
    results = []
    for variant in variants:
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--model-dir", model_dir,
                              "--steps", str(args.steps), "--examples", str(args.examples)]
                             + (["--gpu-shape"] if args.gpu_shape else []),
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("train_gpu.json" if args.gpu_shape else "train.json")).write_text(json.dumps(results, indent=2))
    print("| variant | tokens/s | peak memory (MiB) | wall (s) | MFU | device |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['tokens_per_s']} | {r['peak_memory_mb']} | {r['wall_s']} | {r.get('mfu', '-')} | "
              f"{r['device']} |")
    print(f"speed-up: {results[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
