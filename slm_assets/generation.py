"""Answers to chat prompts from a transformers model: batched greedy answers with per-question latency
(benchmark, DPO, studies), and one prompt's greedy or sampled completion with exact token counts (the local
teacher). Both stop at every end-of-generation token of the model (`models.end_of_generation_ids`)."""

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from slm_assets.batching import similar_length_batches
from slm_assets.models import end_of_generation_ids


@dataclass
class Generated:
    text: str
    latency_s: float  # its share of the wall time: its batch's, divided by the batch size and the batches run at once
    new_tokens: int


@dataclass(frozen=True)
class ChatCompletion:
    text: str
    prompt_tokens: int  # the templated prompt, as the model read it
    completion_tokens: int  # every new token, the end-of-generation token included


def templated_prompts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    """Each chat prompt rendered by the tokenizer's chat template, ready for the assistant's turn."""
    return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]


def templated_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of texts the chat template already rendered: no special tokens added, the template wrote its own
    (the ids `apply_chat_template(..., tokenize=True)` gives)."""
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def chat_prompt_ids(tokenizer, prompts: list[list[dict]]) -> list[list[int]]:
    """Each chat prompt's token ids as the model reads them (`templated_ids` of `templated_prompts`)."""
    return templated_ids(tokenizer, templated_prompts(tokenizer, prompts))


def complete_chat(model, tokenizer, messages: list[dict], max_new_tokens: int,
                  temperature: float = 0.0) -> ChatCompletion:
    """One chat prompt's completion: greedy at temperature 0, sampled above it from torch's global RNG (the caller
    seeds it, and serialises callers that share the RNG or a fast tokenizer). It stops at the tokenizer's eos too,
    not only at the generation config's: a chat tokenizer's <|im_end|> beside a base model's <|endoftext|>."""
    import torch

    (ids,) = chat_prompt_ids(tokenizer, [messages])
    input_ids = torch.tensor([ids], device=getattr(model, "device", None))  # (1, T)
    sample = temperature > 0
    kwargs = {"max_new_tokens": max_new_tokens, "do_sample": sample,
              "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
              "eos_token_id": sorted(end_of_generation_ids(model, tokenizer))}
    if sample:
        kwargs["temperature"] = temperature
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)  # (1, T + new)
    new_ids = output[0][len(ids) :]
    return ChatCompletion(tokenizer.decode(new_ids, skip_special_tokens=True), len(ids), len(new_ids))


def generate_answers(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
                     workers: int = 1) -> list[Generated]:
    """Left-padded batched greedy decoding of chat prompts, answers in the order of `prompts`.

    Prompts are batched with others of similar token length (batching.similar_length_batches), so a closed-book
    question is not padded to an open-book prompt's passages: on CPU, prefill is compute-bound and every padded
    position costs as much as a real one. With `workers` > 1 (CPU only; at most torch's thread count) that many
    batches are generated at once, each in its own thread with an equal share of torch's threads: the same answers, token for token, and on 2
    cores 1.2x the open-book throughput of one batch on 2 threads (bench/results/thread_split.json). Each answer's
    latency is its share of the wall time: its batch's wall time divided by the batch size and by `workers`.
    """
    import torch

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    ids = chat_prompt_ids(tokenizer, prompts)
    # the model's own end-of-turn tokens too (Gemma's <end_of_turn>, Llama-3's <|eot_id|>), not only eos
    stop_ids = sorted(end_of_generation_ids(model, tokenizer))
    # full batches (no padding bound): a decoding step costs about the same at any batch size on CPU
    batches = similar_length_batches([len(i) for i in ids], batch_size, max_padding=math.inf)
    encoded = [tokenizer.pad({"input_ids": [ids[i] for i in indices]}, return_tensors="pt").to(device)
               for indices in batches]

    def generate(enc) -> tuple[object, float]:
        started = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids)
        return generated[:, enc["input_ids"].shape[1] :], time.perf_counter() - started

    # never more batches at once than batches, or than torch has threads to share among them
    workers = max(1, min(workers, len(batches), torch.get_num_threads())) if device.type == "cpu" else 1
    with torch_threads_split(workers):
        if workers == 1:
            results = [generate(enc) for enc in encoded]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="generate") as pool:
                results = list(pool.map(generate, encoded))
    out: list[Generated | None] = [None] * len(prompts)
    for indices, (new_ids, elapsed) in zip(batches, results, strict=True):
        for i, row in zip(indices, new_ids, strict=True):
            n_tokens = int((row != tokenizer.pad_token_id).sum())
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            out[i] = Generated(text=text, latency_s=elapsed / len(indices) / workers, new_tokens=n_tokens)
    return out


@contextmanager
def torch_threads_split(workers: int):
    """torch's intra-op threads divided among `workers` concurrent callers for the duration, then restored."""
    import torch

    if workers <= 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))
    try:
        yield
    finally:
        torch.set_num_threads(threads)
