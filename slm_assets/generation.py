"""Answers to chat prompts from a transformers model: batched greedy answers with per-question latency
(benchmark, DPO, studies), and one prompt's greedy or sampled completion with exact token counts (the local
teacher). Both stop at every end-of-generation token of the model (`models.end_of_generation_ids`)."""

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

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


def example_token_count(tokenizer, example: dict) -> int:
    """Tokens of a prompt/completion training example as the trainer reads it: the whole conversation under the
    chat template."""
    whole = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
    return len(templated_ids(tokenizer, [whole])[0])


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
    """Left-padded batched greedy decoding of chat prompts, answers in the order of `prompts` (BatchedAnswers with
    one set of prompts)."""
    with BatchedAnswers(tokenizer, max_new_tokens, batch_size, workers) as batched:
        return batched.submit(model, prompts).result()


class PendingAnswers:
    """One set of prompts submitted to BatchedAnswers: `result()` waits for its batches and decodes them;
    `seconds` is then the wall time from its first batch's start to its last batch's end."""

    def __init__(self, tokenizer, batches: list[list[int]], futures: list, n_prompts: int, workers: int):
        self.tokenizer, self.batches, self.futures = tokenizer, batches, futures
        self.n_prompts, self.workers = n_prompts, workers
        self.seconds: float | None = None

    def result(self) -> list[Generated]:
        done = [future.result() for future in self.futures]  # (new ids, started, ended) per batch
        self.seconds = max(ended for _, _, ended in done) - min(started for _, started, _ in done) if done else 0.0
        out: list[Generated | None] = [None] * self.n_prompts
        for indices, (new_ids, started, ended) in zip(self.batches, done, strict=True):
            for i, row in zip(indices, new_ids, strict=True):
                n_tokens = int((row != self.tokenizer.pad_token_id).sum())
                text = self.tokenizer.decode(row, skip_special_tokens=True).strip()
                out[i] = Generated(text=text, latency_s=(ended - started) / len(indices) / self.workers,
                                   new_tokens=n_tokens)
        return out


class BatchedAnswers:
    """Greedy answers to sets of chat prompts, each set from its own model, generated in the background in the order
    submitted (a context manager: leaving it waits for what is left).

    Prompts are batched with others of similar token length (batching.similar_length_batches), so a closed-book
    question is not padded to an open-book prompt's passages: on CPU, prefill is compute-bound and every padded
    position costs as much as a real one. With `workers` > 1 (CPU only; at most torch's thread count) that many
    batches are generated at once, each in its own thread with an equal share of torch's threads, and the batches of
    the next set start while the last ones of a set finish: the same answers, token for token. On 2 cores two
    batches on one thread each gave 1.2x the open-book throughput of one batch on 2 threads
    (bench/results/thread_split.json). Each answer's latency is its share of the wall time: its batch's wall time
    divided by the batch size and by `workers`. With one worker, `submit` generates before it returns.
    """

    def __init__(self, tokenizer, max_new_tokens: int, batch_size: int, workers: int = 1):
        import torch

        self.tokenizer, self.max_new_tokens, self.batch_size = tokenizer, max_new_tokens, batch_size
        self.workers = 1 if torch.cuda.is_available() else max(1, min(workers, torch.get_num_threads()))
        self._pool: ThreadPoolExecutor | None = None
        self._stack = ExitStack()

    def __enter__(self) -> "BatchedAnswers":
        self._stack.enter_context(torch_threads_split(self.workers))
        if self.workers > 1:
            # leaving waits for the queued batches (the pool's own exit), then restores torch's threads
            self._pool = self._stack.enter_context(ThreadPoolExecutor(self.workers, thread_name_prefix="generate"))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    def submit(self, model, prompts: list[list[dict]]) -> PendingAnswers:
        """Queue `prompts` for `model`: their batches start once the sets submitted before have started theirs."""
        tokenizer = self.tokenizer
        tokenizer.padding_side = "left"
        device = next(model.parameters()).device
        ids = chat_prompt_ids(tokenizer, prompts)
        # the model's own end-of-turn tokens too (Gemma's <end_of_turn>, Llama-3's <|eot_id|>), not only eos
        stop_ids = sorted(end_of_generation_ids(model, tokenizer))
        # full batches (no padding bound): a decoding step costs about the same at any batch size on CPU
        batches = similar_length_batches([len(i) for i in ids], self.batch_size, max_padding=math.inf)
        encoded = [tokenizer.pad({"input_ids": [ids[i] for i in indices]}, return_tensors="pt").to(device)
                   for indices in batches]
        generate = partial(generate_batch, model, max_new_tokens=self.max_new_tokens,
                           pad_token_id=tokenizer.pad_token_id, stop_ids=stop_ids)
        if self._pool is None:
            futures = [completed(generate(enc)) for enc in encoded]
        else:
            futures = [self._pool.submit(generate, enc) for enc in encoded]
        return PendingAnswers(tokenizer, batches, futures, len(prompts), self.workers)


def generate_batch(model, enc, max_new_tokens: int, pad_token_id: int, stop_ids: list[int]) -> tuple:
    """(the new token ids of each row, start, end) of one left-padded batch, greedy."""
    import torch

    started = time.perf_counter()
    with torch.no_grad():
        generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_token_id,
                                   eos_token_id=stop_ids)
    return generated[:, enc["input_ids"].shape[1] :], started, time.perf_counter()


def completed(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


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
