"""Chat examples -> token ids with labels on the assistant answer only."""

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
