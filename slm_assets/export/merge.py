"""Merge a LoRA adapter into its base and save plain safetensors weights + tokenizer."""

from pathlib import Path

from slm_assets.models import load_tokenizer, load_tuned_model
from slm_assets.storage import replaced_atomically


def save_merged(base_model: str, cache_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    model = load_tuned_model(base_model, cache_dir, adapter_dir, device="cpu")
    with replaced_atomically(out_dir) as staging:  # never a half-written model folder
        model.save_pretrained(str(staging))
        load_tokenizer(base_model, cache_dir).save_pretrained(str(staging))
    return out_dir
