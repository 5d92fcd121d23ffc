"""Will this model train here? An estimate from its config, before any weight is loaded."""

from dataclasses import dataclass
from pathlib import Path


class ModelTooLarge(MemoryError):
    """The estimate exceeds the memory available; the message gives both numbers and what to change."""


@dataclass
class MemoryEstimate:
    n_params: int
    weights_gb: float
    adapter_and_optimizer_gb: float
    activations_gb: float
    total_gb: float
    available_gb: float
    device: str

    @property
    def fits(self) -> bool:
        return self.total_gb <= self.available_gb


def count_parameters(model_ref: str) -> tuple[int, object]:
    """Parameters of the architecture in `config.json`, built on the meta device (no memory, no weights)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_ref)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters()), config


def available_memory_gb(device: str) -> float:
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return free / 2**30
    import psutil

    return psutil.virtual_memory().available / 2**30


def estimate_training_memory(model_ref: str | Path, device: str, qlora: bool, lora_r: int, batch_size: int,
                             seq_len: int, gradient_checkpointing: bool = False) -> MemoryEstimate:
    """Weights (fp32 on CPU, bf16 on GPU, ~0.55 byte/param in 4-bit), LoRA params with Adam state, activations."""
    n_params, config = count_parameters(str(model_ref))
    bytes_per_param = 0.55 if qlora else (2 if device == "cuda" else 4)
    weights = n_params * bytes_per_param
    hidden = getattr(config, "hidden_size", 2048)
    layers = getattr(config, "num_hidden_layers", 24)
    vocab = getattr(config, "vocab_size", 32000)
    # LoRA on every linear layer: ~7 matrices per layer, r * (in + out) each; fp32 param + grad + 2 Adam moments
    adapter = layers * 7 * lora_r * (2 * hidden) * 4 * 4
    act_bytes = 2 if device == "cuda" else 4
    per_token = (2 if gradient_checkpointing else 18) * hidden * layers * act_bytes + 3 * vocab * 4  # + logits
    activations = batch_size * seq_len * per_token
    total = (weights + adapter + activations) * 1.2  # allocator and framework overhead
    return MemoryEstimate(
        n_params=n_params, weights_gb=weights / 2**30, adapter_and_optimizer_gb=adapter / 2**30,
        activations_gb=activations / 2**30, total_gb=total / 2**30, available_gb=available_memory_gb(device),
        device=device,
    )


def ensure_fits(estimate: MemoryEstimate, model_ref: str) -> None:
    if not estimate.fits:
        raise ModelTooLarge(
            f"{model_ref}: training needs about {estimate.total_gb:.1f} GiB on {estimate.device} "
            f"({estimate.n_params / 1e9:.2f}B parameters: weights {estimate.weights_gb:.1f}, activations "
            f"{estimate.activations_gb:.1f}) but {estimate.available_gb:.1f} GiB is available. "
            "Use qlora: true, a smaller batch or max_length, gradient_checkpointing: true, or a smaller model."
        )
