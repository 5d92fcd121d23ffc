"""Chat examples as token ids with labels on the answer only, and the answer-only loss of a model on them.

Low in the package so that training (SFT, distillation) and evaluation (reference perplexity) share one
definition. torch is imported inside the functions that need it.
"""

IGNORE = -100


def encode_chat(tokenizer, prompt: list[dict], answer: str, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the prompt under the chat template, then the answer and end-of-turn.

    Labels are IGNORE on prompt tokens, so losses and KL terms cover the answer only. The prompt is
    cut from the left if the pair is longer than max_length, keeping the answer whole when possible.
    """
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    if isinstance(prompt_ids, dict):
        prompt_ids = prompt_ids["input_ids"]
    full = tokenizer.apply_chat_template(
        prompt + [{"role": "assistant", "content": answer}], tokenize=True, return_dict=False
    )
    if isinstance(full, dict):
        full = full["input_ids"]
    answer_ids = list(full[len(prompt_ids) :])
    if full[: len(prompt_ids)] != list(prompt_ids):  # template re-rendered the prompt differently
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    answer_ids = answer_ids[: max_length - 8]
    keep_prompt = max_length - len(answer_ids)
    prompt_ids = list(prompt_ids)[-keep_prompt:]
    return prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids


def pad_batch(examples: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded tensors (B, T): input_ids, attention_mask, labels."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return input_ids, mask, labels


def completion_rows(hidden, labels):
    """Hidden states that predict a completion token, and those tokens: hidden (B, T, H), labels (B, T) ->
    (N, H), (N,). Position t predicts token t + 1."""
    shifted = labels[:, 1:]  # (B, T-1)
    keep = shifted != IGNORE
    return hidden[:, :-1][keep], shifted[keep]


def plain_head_scaled(config) -> bool:
    """True when the head is a plain projection (no logit scaling or soft-capping), which this loss assumes."""
    text = config.get_text_config()
    scale = next((getattr(text, name) for name in ("logit_scale", "output_multiplier", "lm_head_multiplier",
                                                   "logits_scaling") if getattr(text, name, None) is not None), 1.0)
    return getattr(text, "final_logit_softcapping", None) is None and scale == 1.0


def body_and_head(model):
    """(decoder body, LM head) of a causal LM, through PEFT's wrapper (its LoRA layers live inside the body)."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model.base_model, model.get_output_embeddings()


def answer_logits(model, input_ids, attention_mask, labels):
    """Logits (N, V) only at positions that predict an answer token, and those tokens (N,): the body runs on the
    whole batch (B, T), the head on N rows. Models whose head scales or soft-caps its logits take the full path."""
    if not plain_head_scaled(model.config):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
        return completion_rows(logits, labels)
    body, head = body_and_head(model)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state  # (B, T, H)
    rows, targets = completion_rows(hidden, labels)
    return head(rows), targets


def answer_loss(model, examples, pad_id: int, device: str, batch_size: int = 8) -> float:
    """Token-weighted mean CE over answer tokens (perplexity = exp of it); the head runs on answer positions only.
    Examples are batched longest first, so each batch holds similar lengths and little padding (the mean does not
    depend on the order)."""
    import torch
    import torch.nn.functional as F

    total, count = 0.0, 0
    by_length = sorted(examples, key=lambda example: -len(example[0]))
    model.eval()
    with torch.no_grad():
        for i in range(0, len(by_length), batch_size):
            ids, mask, labels = (t.to(device) for t in pad_batch(by_length[i : i + batch_size], pad_id))
            rows, targets = answer_logits(model, ids, mask, labels)  # (N, V), (N,)
            total += float(F.cross_entropy(rows, targets, reduction="sum"))
            count += targets.numel()
    return total / max(1, count)
