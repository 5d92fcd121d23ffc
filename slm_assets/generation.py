"""Greedy, seeded answer generation from chat prompts, with per-question latency (benchmark, DPO, studies)."""

import time
from dataclasses import dataclass


@dataclass
class Generated:
    text: str
    latency_s: float  # wall time of the batch this answer was generated in, divided by its size
    new_tokens: int


def templated_prompts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    """Each chat prompt rendered by the tokenizer's chat template, ready for the assistant's turn."""
    return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]


def generate_answers(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int) -> list[Generated]:
    """Left-padded batched greedy decoding of chat prompts."""
    import torch

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    out: list[Generated] = []
    for i in range(0, len(prompts), batch_size):
        batch = prompts[i : i + batch_size]
        texts = templated_prompts(tokenizer, batch)
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        started = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        elapsed = time.perf_counter() - started
        new = generated[:, enc["input_ids"].shape[1] :]
        for row in new:
            n_tokens = int((row != tokenizer.pad_token_id).sum())
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            out.append(Generated(text=text, latency_s=elapsed / len(batch), new_tokens=n_tokens))
    return out
