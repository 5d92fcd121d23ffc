"""The sliced completion loss against the full-logits loss, on a tiny randomly initialised Llama (seconds)."""

import pytest
import torch
import torch.nn.functional as F

from slm_assets.losses import IGNORE
from slm_assets.testing.tiny_models import tiny_llama
from slm_assets.train import completion_loss as sliced


def tiny_lora_model(vocab: int = 300):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    base = tiny_llama(vocab, hidden_size=32, intermediate_size=64, max_position_embeddings=64)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))
    for name, parameter in model.named_parameters():  # LoRA B starts at zero: make the adapter matter
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.1)
    return model


def padded_batch(vocab: int):
    """Two rows, right-padded: prompt tokens and padding carry IGNORE labels."""
    torch.manual_seed(1)
    ids = torch.randint(0, vocab, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = ids.clone()
    labels[0, :5] = IGNORE
    labels[1, :3] = IGNORE
    labels[1, 9:] = IGNORE
    return ids, mask, labels


def full_logits_loss(model, ids, mask, labels):
    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def sliced_loss(model, ids, mask, labels):
    causal_lm = model.get_base_model()
    hidden = causal_lm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    return sliced.completion_loss(hidden, labels, causal_lm.get_output_embeddings())


def trainable_grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("chunk_elements", [sliced.CHUNK_ELEMENTS, 300 * 5])  # one chunk; chunks of 5 tokens
def test_sliced_loss_and_gradients_equal_the_full_logits_completion_loss(chunk_elements, monkeypatch):
    monkeypatch.setattr(sliced, "CHUNK_ELEMENTS", chunk_elements)
    model = tiny_lora_model()
    ids, mask, labels = padded_batch(300)
    full = full_logits_loss(model, ids, mask, labels)
    full_grads = trainable_grads(model, full)
    ours = sliced_loss(model, ids, mask, labels)
    our_grads = trainable_grads(model, ours)
    assert ours.item() == pytest.approx(full.item(), abs=1e-5)
    assert full_grads.keys() == our_grads.keys() and len(our_grads) > 0
    for name, grad in full_grads.items():
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    assert max(g.abs().max().item() for g in our_grads.values()) > 1e-4, "gradients must not be trivially zero"


def test_head_gradients_for_weight_bias_and_hidden_match_autograd():
    """A trainable head with a bias (as when the head is fully trained): every gradient the chunked loss forms in its
    forward pass equals autograd through the full logits, scaled by the incoming gradient."""
    torch.manual_seed(2)
    head = torch.nn.Linear(16, 50, bias=True)
    hidden = torch.randn(23, 16, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    reference = F.cross_entropy(head(hidden), targets, reduction="sum") * 0.5
    expected = torch.autograd.grad(reference, (hidden, head.weight, head.bias))
    ours = sliced._ChunkedHeadCrossEntropy.apply(hidden, head.weight, head.bias, targets, 4) * 0.5
    got = torch.autograd.grad(ours, (hidden, head.weight, head.bias))
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)
    for mine, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)


def test_batch_without_completion_tokens_gives_a_differentiable_zero():
    model = tiny_lora_model()
    ids, mask, _ = padded_batch(300)
    loss = sliced_loss(model, ids, mask, torch.full_like(ids, IGNORE))
    loss.backward()
    assert loss.item() == 0.0


def test_scaled_heads_are_left_to_trl():
    from transformers import LlamaConfig

    assert sliced.plain_head_scaled(LlamaConfig())
    softcapped = LlamaConfig()
    softcapped.final_logit_softcapping = 30.0
    scaled = LlamaConfig()
    scaled.logit_scale = 0.5
    assert not sliced.plain_head_scaled(softcapped) and not sliced.plain_head_scaled(scaled)


def trainer_and_batch(tmp_path, bundled_model_dir, bf16: bool = False):
    """A CompletionSFTTrainer on a tiny LoRA model with SmolLM2's real tokenizer and chat template, and one collated
    batch of four rows with prompt and completion tokens."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig

    from slm_assets.train.completion_loss import CompletionSFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    model = tiny_lora_model(vocab=len(tokenizer))
    rows = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": "Answer " * (i + 1)}]} for i in range(4)]
    args = SFTConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_length=64, use_cpu=True,
                     bf16=bf16, report_to="none", completion_only_loss=True)
    trainer = CompletionSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                   processing_class=tokenizer)
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.train()
    return trainer, inputs


def test_trainer_loss_equals_trl_own_loss_on_a_batch_and_logs_no_entropy(tmp_path, bundled_model_dir):
    """CompletionSFTTrainer.compute_loss on a collated batch equals TRL's SFTTrainer.compute_loss on the same batch
    (same normalisation), and records no entropy or token accuracy."""
    from trl import SFTTrainer

    trainer, inputs = trainer_and_batch(tmp_path, bundled_model_dir)
    assert (inputs["labels"] == IGNORE).any() and (inputs["labels"] != IGNORE).any()
    ours = trainer.compute_loss(trainer.model, dict(inputs), num_items_in_batch=None)
    assert "entropy" not in trainer._metrics["train"] and "mean_token_accuracy" not in trainer._metrics["train"]
    theirs = SFTTrainer.compute_loss(trainer, trainer.model, dict(inputs), num_items_in_batch=None)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)
    counted = int((inputs["labels"][:, 1:] != IGNORE).sum())
    halved = trainer.compute_loss(trainer.model, dict(inputs), num_items_in_batch=2 * counted)
    assert halved.item() == pytest.approx(ours.item() / 2, abs=1e-5)


def test_with_mixed_precision_the_sliced_loss_runs_under_autocast(tmp_path, bundled_model_dir):
    """The sliced loss calls the unwrapped model's body, which skips the autocast accelerate wraps around the
    prepared model's forward during training (TRL's own loss gets it there). With bf16 on, the body must still
    compute in bf16, and the loss stay close to the fp32 one."""
    from trl import SFTTrainer

    trainer, inputs = trainer_and_batch(tmp_path, bundled_model_dir, bf16=True)
    body_dtypes = []
    first_layer = trainer.accelerator.unwrap_model(trainer.model).get_base_model().model.layers[0]
    hook = first_layer.mlp.down_proj.register_forward_hook(lambda _m, _i, out: body_dtypes.append(out.dtype))
    try:
        ours = trainer.compute_loss(trainer.model, dict(inputs), num_items_in_batch=None)
    finally:
        hook.remove()
    full_precision = SFTTrainer.compute_loss(trainer, trainer.model, dict(inputs), num_items_in_batch=None)
    assert body_dtypes == [torch.bfloat16]
    assert ours.item() == pytest.approx(full_precision.item(), abs=5e-2)


def test_micro_batches_accumulate_to_the_configured_batch(tmp_path):
    from pydantic import ValidationError

    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import sft_arguments

    config = train_config_from({"preset": "demo", "per_device_batch_size": 8, "micro_batch_size": 2,
                                "gradient_accumulation_steps": 3})
    args = sft_arguments(config, "cpu", tmp_path)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (2, 12)
    assert args.per_device_eval_batch_size == 8
    whole = sft_arguments(train_config_from({"preset": "smoke"}), "cpu", tmp_path)
    assert (whole.per_device_train_batch_size, whole.gradient_accumulation_steps) == (4, 1)
    with pytest.raises(ValidationError, match=r"micro_batch_size \(3\) must divide train.per_device_batch_size \(8\)"):
        train_config_from({"per_device_batch_size": 8, "micro_batch_size": 3})


def test_answer_loss_is_the_token_weighted_mean_whatever_the_order_of_examples():
    """Batched by length, the answer loss equals the mean CE of every answer token computed one example at a time."""
    from slm_assets.losses import answer_loss

    vocab = 300
    model = tiny_llama(vocab, hidden_size=32, intermediate_size=64, seed=2, max_position_embeddings=64)
    generator = torch.Generator().manual_seed(3)
    examples = []
    for prompt_len, answer_len in [(20, 3), (4, 9), (12, 1), (30, 6), (7, 7)]:
        ids = torch.randint(0, vocab, (prompt_len + answer_len,), generator=generator).tolist()
        examples.append((ids, [IGNORE] * prompt_len + ids[prompt_len:]))
    one_by_one = []
    with torch.no_grad():
        for ids, labels in examples:
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            one_by_one.append(F.cross_entropy(logits, torch.tensor(labels[1:]), ignore_index=IGNORE,
                                              reduction="sum"))
    expected = float(sum(one_by_one)) / sum(len(labels) - labels.count(IGNORE) for _, labels in examples)
    assert answer_loss(model, examples, pad_id=0, device="cpu", batch_size=2) == pytest.approx(expected, rel=1e-5)
    assert answer_loss(model, examples[::-1], pad_id=0, device="cpu", batch_size=2) == pytest.approx(expected,
                                                                                                      rel=1e-5)
