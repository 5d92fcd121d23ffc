"""Merge a LoRA adapter into its base and save plain safetensors weights + tokenizer."""

from pathlib import Path

from slm_assets.models import load_tokenizer, load_tuned_model


def save_merged(base_model: str, cache_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    model = load_tuned_model(base_model, cache_dir, adapter_dir, device="cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    load_tokenizer(base_model, cache_dir).save_pretrained(str(out_dir))
    return out_dir
