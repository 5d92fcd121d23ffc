"""Training pieces on a tiny randomly initialised Llama built from a config: no download, seconds."""


import pytest
import torch

from slm_assets.losses import IGNORE, encode_chat, pad_batch
from slm_assets.train.distill import masked_ce, masked_kl
from slm_assets.train.memory import MemoryEstimate, ModelTooLarge, ensure_fits, estimate_training_memory
from slm_assets_tests.train.helpers import write_chat_split


def test_kl_is_zero_for_identical_distributions_and_positive_otherwise():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)  # (B, T, V)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4, 5], [IGNORE, 1, 2, IGNORE, IGNORE]])
    assert masked_kl(logits, logits, labels, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_kl(logits, torch.randn(2, 5, 11), labels, 2.0).item() > 0.01
    only_prompt = torch.full((2, 5), IGNORE)
    assert masked_kl(logits, torch.randn(2, 5, 11), only_prompt, 2.0).item() == 0.0


def test_masked_ce_ignores_prompt_positions():
    logits = torch.zeros(1, 4, 3)
    logits[0, 1, 2] = 10.0  # position 1 predicts token 2 confidently
    labels = torch.tensor([[IGNORE, IGNORE, 2, IGNORE]])
    assert masked_ce(logits, labels).item() < 0.01


def test_chat_encoding_labels_only_the_answer(bundled_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is CCS?"}]
    ids, labels = encode_chat(tokenizer, prompt, "A DC charging standard.", 64)
    answer = tokenizer.decode([t for t in labels if t != IGNORE])
    assert answer.startswith("A DC charging standard.") and "What is CCS" not in answer
    input_ids, mask, padded = pad_batch([(ids, labels), (ids[:5], labels[:5])], tokenizer.pad_token_id)
    assert input_ids.shape == mask.shape == padded.shape == (2, len(ids))
    assert mask[1].sum() == 5 and (padded[1, 5:] == IGNORE).all()


def test_memory_estimate_counts_parameters_and_refuses_what_cannot_fit(tiny_llama_dir):
    estimate = estimate_training_memory(tiny_llama_dir, "cpu", qlora=False, lora_r=8, batch_size=2, seq_len=32)
    n_expected = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(tiny_llama_dir).parameters())
    assert estimate.n_params == pytest.approx(n_expected, rel=0.5)
    assert estimate.fits
    huge = MemoryEstimate(n_params=7_000_000_000, weights_gb=28.0, adapter_and_optimizer_gb=0.5, activations_gb=8.0,
                          total_gb=43.0, available_gb=20.0, device="cpu")
    with pytest.raises(ModelTooLarge, match=r"43.0 GiB on cpu .* 20.0 GiB is available. Use qlora"):
        ensure_fits(huge, "mistralai/Mistral-7B-v0.1")


def test_lora_adapter_trains_on_a_tiny_model(tiny_smollm2_dir, tmp_path):
    """TRL SFTTrainer + PEFT end to end in seconds: a tiny model, the real tokenizer, 4 steps, an adapter saved."""
    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import train_lora

    data = tmp_path / "sft"
    write_chat_split(data, 16)
    config = train_config_from({"preset": "smoke", "max_steps": 4, "eval_steps": 2})
    seen = []
    summary = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, tmp_path / "out", config,
                         sink=lambda step, metrics: seen.append((step, metrics)))
    assert summary.steps == 4 and (tmp_path / "out" / "adapter" / "adapter_config.json").exists()
    assert any("loss" in m for _, m in seen) and any("eval_loss" in m for _, m in seen)
    assert summary.eval_loss_first is not None and summary.tokens_seen > 0


def test_lora_trains_without_validation_when_no_val_prompt_leaves_room_for_an_answer(tiny_smollm2_dir, tmp_path,
                                                                                     caplog):
    """A small domain whose val documents have long passages: TRL would drop every val row (the answer is cut away
    whole) and fail in the first evaluation; training runs without validation and says so."""
    import json

    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import train_lora

    data = tmp_path / "sft"
    write_chat_split(data, 16)
    passage = " ".join(["The pilot signal tells the car how much current it may draw."] * 30)  # > 128 tokens
    long_rows = [{"prompt": [{"role": "user", "content": f"{passage}\nQuestion {i}?"}],
                  "completion": [{"role": "assistant", "content": "Six amperes."}]} for i in range(4)]
    (data / "val.jsonl").write_text("\n".join(json.dumps(r) for r in long_rows))
    config = train_config_from({"preset": "smoke", "max_steps": 4, "eval_steps": 2})  # max_length 128
    with caplog.at_level("WARNING"):
        summary = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, tmp_path / "out", config)
    assert summary.steps == 4 and (tmp_path / "out" / "adapter" / "adapter_config.json").exists()
    assert summary.val_examples == 0 and summary.eval_loss_first is None
    assert f"{data}/val: 4 of 4 examples" in caplog.text and "without validation" in caplog.text


def test_qlora_loads_the_base_in_4bit_nf4_and_dora_is_passed_to_peft(tmp_path):
    import bitsandbytes as bnb
    from peft import get_peft_model

    from slm_assets.testing.tiny_models import tiny_llama

    # 4-bit blocks are 64 values wide: layers must be at least that
    tiny_llama_dir = tmp_path / "tiny128"
    tiny_llama(256, hidden_size=128, intermediate_size=256).save_pretrained(tiny_llama_dir)

    from slm_assets.train.config import LoraConfig
    from slm_assets.train.lora import load_base_for_training, peft_lora_config

    config = LoraConfig(r=4, alpha=8, qlora=True, use_dora=True)
    model = load_base_for_training(str(tiny_llama_dir), tmp_path, config, "cpu")
    four_bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and four_bit[0].weight.quant_type == "nf4"
    peft_config = peft_lora_config(config)
    assert peft_config.use_dora and peft_config.r == 4 and peft_config.target_modules == "all-linear"
    peft_model = get_peft_model(model, peft_config)
    out = peft_model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    assert out.logits.shape == (1, 4, 256) and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("student_init", ["lora_adapter", "fresh"])
def test_distillation_student_starts_from_the_lora_adapter_or_from_the_base(
        student_init, tiny_smollm2_dir, tmp_path):
    """With a vanishing learning rate the distilled student is its starting point: the trained lora_adapter by
    default (same domain loss as the teacher), the plain base with `student_init: fresh`."""
    from slm_assets.train.config import DistillConfig, train_config_from
    from slm_assets.train.distill import distill
    from slm_assets.train.lora import train_lora

    data = tmp_path / "sft"
    write_chat_split(data, 16)
    lora = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, tmp_path / "lora",
                      train_config_from({"preset": "smoke", "max_steps": 4, "eval_steps": 4, "learning_rate": 5e-2}))
    config = DistillConfig(student_init=student_init, max_steps=1, per_device_batch_size=2, max_length=64,
                           max_val_examples=8, learning_rate=1e-12)
    summary = distill(str(tiny_smollm2_dir), tmp_path / "cache", data, tmp_path / "lora" / "adapter",
                      tmp_path / "distilled", config)
    scores = {name: s["domain_loss"] for name, s in summary.evaluation.items()}
    assert abs(scores["lora_adapter"] - scores["base"]) > 1e-3, "the LoRA step must have changed the model"
    start = "lora_adapter" if student_init == "lora_adapter" else "base"
    assert scores["distilled_model"] == pytest.approx(scores[start], abs=1e-5)
    assert summary.student_init == student_init and (tmp_path / "distilled" / "adapter" / "adapter_config.json").exists()
    assert summary.evaluation["distilled_model"]["general_perplexity"] > 0 and lora.steps == 4


def test_training_backend_choice(monkeypatch):
    """auto takes Unsloth only on CUDA with the package installed; an explicit unsloth that cannot run says why."""
    from slm_assets.train import lora as lora_module
    from slm_assets.train.config import LoraConfig
    from slm_assets.train.lora import BackendUnavailable, choose_backend

    monkeypatch.setattr(lora_module, "installed", lambda package: False)
    assert choose_backend("auto", "cpu", LoraConfig()) == "transformers"
    with pytest.raises(BackendUnavailable, match="unsloth package is not installed; Unsloth needs CUDA and this run is on cpu"):
        choose_backend("unsloth", "cpu", LoraConfig())

    monkeypatch.setattr(lora_module, "installed", lambda package: package == "unsloth")
    assert choose_backend("auto", "cuda", LoraConfig()) == "unsloth"
    assert choose_backend("transformers", "cuda", LoraConfig()) == "transformers"
    assert choose_backend("auto", "cuda", LoraConfig(use_dora=True)) == "transformers"
    with pytest.raises(BackendUnavailable, match="DoRA"):
        choose_backend("unsloth", "cuda", LoraConfig(use_dora=True))


def test_unsloth_loader_receives_the_same_adapter_settings(tiny_llama_dir, tmp_path, monkeypatch):
    """Unsloth itself needs CUDA, so a stand-in module records what `load_with_unsloth` asks of its API:
    the same rank/alpha/dropout/seed, and `all-linear` spelled out as the decoder's linear layer names."""
    import sys
    import types

    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import load_with_unsloth

    calls = {}

    class FastLanguageModel:
        @staticmethod
        def from_pretrained(**kwargs):
            from transformers import AutoModelForCausalLM

            calls["load"] = kwargs
            return AutoModelForCausalLM.from_pretrained(kwargs["model_name"]), None

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls["peft"] = kwargs
            return model

    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    config = train_config_from({"preset": "smoke", "max_length": 96, "gradient_checkpointing": True,
                                "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "qlora": True}})
    load_with_unsloth(str(tiny_llama_dir), tmp_path, config)
    assert calls["load"]["max_seq_length"] == 96 and calls["load"]["load_in_4bit"] is True
    peft = calls["peft"]
    assert (peft["r"], peft["lora_alpha"], peft["lora_dropout"], peft["random_state"]) == (8, 16, 0.0, config.seed)
    assert peft["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert peft["use_gradient_checkpointing"] == "unsloth"


def test_packing_needs_flash_attention_and_auto_uses_it_only_there(monkeypatch, tmp_path):
    from slm_assets.train import lora as lora_module
    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import BackendUnavailable, sft_arguments, use_packing

    monkeypatch.setattr(lora_module, "installed", lambda package: False)
    assert use_packing("auto", "cuda") is False and use_packing("off", "cpu") is False
    with pytest.raises(BackendUnavailable, match="needs CUDA and the flash_attn package"):
        use_packing("on", "cpu")
    monkeypatch.setattr(lora_module, "installed", lambda package: package == "flash_attn")
    assert use_packing("auto", "cuda") is True and use_packing("auto", "cpu") is False

    config = train_config_from({"preset": "smoke"})
    unpacked = sft_arguments(config, "cpu", tmp_path)
    assert unpacked.packing is False and unpacked.train_sampling_strategy == "group_by_length"
    assert unpacked.completion_only_loss is True and unpacked.gradient_checkpointing is False
    packed = sft_arguments(config, "cpu", tmp_path, packing=True, eval_strategy="no", save_strategy="no",
                           load_best_model_at_end=False)
    assert packed.packing is True and packed.packing_strategy == "bfd" and packed.eval_strategy == "no"
