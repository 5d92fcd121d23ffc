"""Greedy, seeded answer generation from chat prompts, with per-question latency (benchmark, DPO, studies)."""

import math
import time
from dataclasses import dataclass

from slm_assets.batching import similar_length_batches
from slm_assets.models import end_of_generation_ids


@dataclass
class Generated:
    text: str
    latency_s: float  # wall time of the batch this answer was generated in, divided by its size
    new_tokens: int


def templated_prompts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    """Each chat prompt rendered by the tokenizer's chat template, ready for the assistant's turn."""
    return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]


def generate_answers(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int) -> list[Generated]:
    """Left-padded batched greedy decoding of chat prompts, answers in the order of `prompts`.

    Prompts are batched with others of similar token length (batching.similar_length_batches), so a closed-book
    question is not padded to an open-book prompt's passages: on CPU, prefill is compute-bound and every padded
    position costs as much as a real one. Each answer's latency is its batch's wall time divided by the batch size.
    """
    import torch

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    texts = templated_prompts(tokenizer, prompts)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # the model's own end-of-turn tokens too (Gemma's <end_of_turn>, Llama-3's <|eot_id|>), not only eos
    stop_ids = sorted(end_of_generation_ids(model, tokenizer))
    out: list[Generated | None] = [None] * len(prompts)
    # full batches (no padding bound): a decoding step costs about the same at any batch size on CPU
    for indices in similar_length_batches([len(i) for i in ids], batch_size, max_padding=math.inf):
        enc = tokenizer.pad({"input_ids": [ids[i] for i in indices]}, return_tensors="pt").to(device)
        started = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stop_ids,
            )
        elapsed = time.perf_counter() - started
        for i, row in zip(indices, generated[:, enc["input_ids"].shape[1] :], strict=True):
            n_tokens = int((row != tokenizer.pad_token_id).sum())
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            out[i] = Generated(text=text, latency_s=elapsed / len(indices), new_tokens=n_tokens)
    return out
