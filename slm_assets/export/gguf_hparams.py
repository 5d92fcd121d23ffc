"""llama.cpp `llama.*` hyperparameters from an HF config.json, rope scaling included.

transformers 5 keeps rope settings in `rope_parameters` ({rope_type, rope_theta, factor, ...});
older configs use `rope_theta` and `rope_scaling`. Both are read. Supported scalings: linear
(llama.cpp's own key) and llama3 (per-frequency divisors in a `rope_freqs.weight` tensor).
"""

import logging

log = logging.getLogger(__name__)


def llama3_rope_factors(rope: dict, head_dim: int, base: float):
    """Per-frequency divisors llama.cpp applies (`rope_freqs.weight`) to reproduce HF's llama3 rope.

    HF scales each inverse frequency: kept for short wavelengths, divided by `factor` for long
    ones, and interpolated between; llama.cpp divides by the stored factor, so factor = old / new.
    """
    import numpy as np

    factor = float(rope["factor"])
    low, high = float(rope["low_freq_factor"]), float(rope["high_freq_factor"])
    old_context = float(rope["original_max_position_embeddings"])
    inv_freq = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,)
    wavelen = 2 * np.pi / inv_freq
    smooth = (old_context / wavelen - low) / (high - low)
    scaled = np.where(wavelen > old_context / low, inv_freq / factor, inv_freq)
    medium = (wavelen >= old_context / high) & (wavelen <= old_context / low)
    scaled = np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    return (inv_freq / scaled).astype(np.float32)


def _rope_settings(config: dict) -> tuple[float, dict]:
    params = dict(config.get("rope_parameters") or {})
    legacy = config.get("rope_scaling") or {}
    params = {**legacy, **params}
    base = float(params.get("rope_theta", config.get("rope_theta", 10000.0)))
    params["rope_type"] = params.get("rope_type", params.get("type", "default"))
    return base, params


def add_hparams(writer, config: dict, head_dim: int) -> list[tuple[str, object]]:
    """Model hyperparameters; returns extra tensors the rope scaling needs."""
    import gguf

    n_heads = config["num_attention_heads"]
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or n_heads)
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // n_heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)

    base, rope = _rope_settings(config)
    writer.add_rope_freq_base(base)
    extra = []
    if rope["rope_type"] == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif rope["rope_type"] == "llama3":
        extra.append(("rope_freqs.weight", llama3_rope_factors(rope, head_dim, base)))
    elif rope["rope_type"] != "default":
        raise ValueError(f"rope scaling {rope['rope_type']!r} is not supported (default, linear, llama3 are)")
    if config.get("sliding_window") and config["sliding_window"] < config["max_position_embeddings"]:
        log.warning(
            "sliding_window=%s is ignored by llama.cpp's llama architecture", config["sliding_window"]
        )
    return extra
