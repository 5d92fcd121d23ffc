"""Does a GGUF behave like the HF model it was written from? Logits, greedy text and tokenizer compared.

Both sides get the same input: the HF chat template renders each prompt as a user message once;
that text is tokenized by both tokenizers (they must agree, or the GGUF's `tokenizer.ggml.pre`
is wrong), and the HF token ids are fed to both models, so a logit difference measures the
weights and the runtime, not the tokenizer.

Default tolerances, measured by `bench/export.py` (bench/results/export.json) on the bundled
SmolLM2-135M-Instruct (30 layers, prompt-end logits spanning ~-1..34) converted by convert_hf_to_gguf
and quantised by llama.cpp, on five EV-charging prompts, 16 new tokens, 2-core CPU, llama.cpp KV
cache kept F32 (its default F16 cache alone moves f32 logits by ~1e-2; this check is about the file):
- f32: max |logit diff| 4.5e-5 seen (earlier writer, same runtime), limit 1e-3 (llama.cpp only sums
  in another order). A wrong q/k layout or missing rope scaling moves logits by whole units.
- f16: 0.039 seen, forced top-1 1.0, limit 0.15 (F16 weights, F16-rounded activations in the matmuls).
- q8_0: 1.06 seen, forced top-1 0.99, greedy 0.83, limit 2.0. Weight rounding alone accounts for ~0.5;
  llama.cpp also rounds activations to 8 bits for Q8 matmuls.
- q6_k: 1.48 seen, forced top-1 0.975, limit 3.0 / 0.9.
- q5_k_m: 3.67 seen, forced top-1 0.875, prompt-end top-1 on 4 of 5 prompts; limit 6.0 / 0.75 / 0.6.
- q4_k_m: 2.91 seen, forced top-1 0.875, prompt-end top-1 on 4 of 5 prompts; limit 6.0 / 0.75 / 0.6.
SmolLM2's 576-wide rows are not multiples of 256, so llama.cpp falls back to q5_0/q8_0 for most
tensors of every K-quant; wider models quantise better.
Greedy text parts wherever two candidates are nearly tied, so the free-running match is reported
but required only for f32. Quantised files must agree on the top-1 at every prompt end (a pick that HF ranks
second by less than the prompt's own largest logit difference counts as agreeing: a smoke-trained SmolLM2 made
q8_0 fail on such a tie in one of three prompts) and, along HF's own continuation (teacher forcing), at the
quantisation's share of steps, with the same near-tie rule at each step. The tie margin is capped at the
quantisation's logit tolerance, so a file whose logits move by whole units still disagrees. Without the rule at
each step, the near-uniform logits of a smoke-trained random 64-wide test model failed q8_0 on forced top-1
after a change of training data, though its logits stayed within tolerance.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.generation import templated_ids, templated_prompts
from slm_assets.llama_models import context_size, open_llama

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tolerance:
    max_logit_diff: float  # at the prompt end
    min_forced_top1: float  # llama.cpp's argmax = HF's token along HF's greedy continuation
    min_greedy_match: float  # free-running: matching-prefix tokens / generated tokens
    min_top1: float = 1.0  # share of prompts whose prompt-end argmax agrees


DEFAULT_TOLERANCES = {
    "f32": Tolerance(max_logit_diff=1e-3, min_forced_top1=1.0, min_greedy_match=1.0),
    "f16": Tolerance(max_logit_diff=0.15, min_forced_top1=0.9, min_greedy_match=0.0),
    "q8_0": Tolerance(max_logit_diff=2.0, min_forced_top1=0.9, min_greedy_match=0.0),
    # K-quants from llama.cpp's quantizer (see the module docstring for the measured figures)
    "q6_k": Tolerance(max_logit_diff=3.0, min_forced_top1=0.9, min_greedy_match=0.0),
    # 5- and 4-bit files flip a near-tied prompt-end argmax (1 of 5 prompts for q5_k_m on SmolLM2)
    "q5_k_m": Tolerance(max_logit_diff=6.0, min_forced_top1=0.75, min_greedy_match=0.0, min_top1=0.6),
    "q4_k_m": Tolerance(max_logit_diff=6.0, min_forced_top1=0.75, min_greedy_match=0.0, min_top1=0.6),
}


@dataclass(frozen=True)
class PromptParity:
    prompt: str
    n_prompt_tokens: int
    tokens_match: bool  # llama.cpp's tokenizer gives the HF ids for the templated prompt
    max_logit_diff: float  # at the prompt end
    top1_match: bool  # the same prompt-end argmax, or a near tie (`top1_agrees`)
    hf_continuation: list[int]
    gguf_continuation: list[int]
    greedy_match: float  # common prefix / longer continuation
    forced_top1: float  # share of HF's continuation steps where llama.cpp picks the same token or a near tie
    hf_text: str
    gguf_text: str


@dataclass(frozen=True)
class ParityReport:
    qtype: str
    max_logit_diff: float
    top1_agreement: float
    greedy_match_rate: float
    forced_top1_agreement: float
    tokens_match: bool
    tolerance: float
    passed: bool
    hf_tokens_per_s: float  # greedy decode (after the prompt), batch 1
    gguf_tokens_per_s: float
    prompts: list[PromptParity] = field(default_factory=list)


def gguf_qtype(gguf_path: Path) -> str:
    """The file type recorded in the GGUF (`general.file_type`), as f32/f16/q4_k_m… or `type<N>`."""
    from gguf import GGUFReader

    from slm_assets.llama_batch import FILE_TYPE_NAMES

    field_ = GGUFReader(str(gguf_path)).get_field("general.file_type")
    value = int(field_.contents()) if field_ is not None else 0
    return FILE_TYPE_NAMES.get(value, f"type{value}")


def _open_gguf(gguf_path: Path, n_ctx: int, logits_all: bool = True):
    import llama_cpp

    # F32 KV cache: llama.cpp's default F16 cache adds its own rounding, and this check is about
    # the file. logits_all keeps every position's logits in `Llama.scores`.
    return open_llama(gguf_path, n_ctx=n_ctx, n_threads=2, n_threads_batch=2, logits_all=logits_all,
                      type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)


def _greedy_continuation(first_id: int, next_after: Callable[[int], int], max_new_tokens: int, stop: set[int]):
    """(continuation, decode steps, decode seconds): tokens from `first_id` on, each next one `next_after` the
    last, until a stop token or `max_new_tokens`."""
    next_id = first_id
    continuation, steps, start = [], 0, time.perf_counter()
    while True:
        continuation.append(next_id)
        if next_id in stop or len(continuation) >= max_new_tokens:
            break
        next_id = next_after(next_id)
        steps += 1
    return continuation, steps, time.perf_counter() - start


def _hf_greedy(model, ids: list[int], max_new_tokens: int, stop: set[int]):
    """(logits (V,) before each continuation token, continuation, decode steps, decode seconds) with a KV cache;
    the first logits are the prompt end's."""
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=True)
        rows = [out.logits[0, -1].float().numpy()]  # (V,) each

        def next_after(token: int) -> int:
            nonlocal out
            out = model(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
            rows.append(out.logits[0, -1].float().numpy())
            return int(out.logits[0, -1].argmax())

        return rows, *_greedy_continuation(int(rows[0].argmax()), next_after, max_new_tokens, stop)


def _gguf_greedy(llm, ids: list[int], max_new_tokens: int, stop: set[int]):
    """Same as `_hf_greedy` on llama.cpp: argmax over raw logits, so no sampler is involved."""
    import numpy as np

    llm.reset()
    llm.eval(ids)
    first_logits = np.array(llm.scores[len(ids) - 1], dtype=np.float32)  # (V,)

    def next_after(token: int) -> int:
        llm.eval([token])
        return int(np.argmax(llm.scores[llm.n_tokens - 1]))

    return first_logits, *_greedy_continuation(int(first_logits.argmax()), next_after, max_new_tokens, stop)


def _gguf_forced_logits(llm, ids: list[int], continuation: list[int]):
    """llama.cpp's logits before each token of a given continuation (teacher forcing, one batch):
    (len(continuation), V)."""
    import numpy as np

    llm.reset()
    llm.eval(ids + continuation[:-1])
    return np.array(llm.scores[len(ids) - 1 : len(ids) - 1 + len(continuation)], dtype=np.float32)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class DecodeTiming:
    """Greedy decode steps after the prompt and their seconds, per runtime, for the tokens/s figures."""

    hf_steps: int = 0
    hf_seconds: float = 0.0
    gguf_steps: int = 0
    gguf_seconds: float = 0.0

    def __add__(self, other: "DecodeTiming") -> "DecodeTiming":
        return DecodeTiming(self.hf_steps + other.hf_steps, self.hf_seconds + other.hf_seconds,
                            self.gguf_steps + other.gguf_steps, self.gguf_seconds + other.gguf_seconds)


def qtype_tolerance(gguf_path: Path) -> tuple[str, Tolerance]:
    qtype = gguf_qtype(gguf_path)
    limits = DEFAULT_TOLERANCES.get(qtype)
    if limits is None:
        raise ValueError(f"no default tolerance for GGUF file type {qtype!r}")
    return qtype, limits


def templated_user_prompts(tokenizer, prompts: list[str]) -> tuple[list[str], list[list[int]]]:
    """Each prompt as a user message under the HF chat template: (texts, HF token ids)."""
    texts = templated_prompts(tokenizer, [[{"role": "user", "content": p}] for p in prompts])
    return texts, templated_ids(tokenizer, texts)


def top1_agrees(hf_logits, gguf_logits, max_noise: float = float("inf")) -> bool:
    """Both runtimes pick the same next token, or the GGUF's pick is a near tie in HF's own logits: HF ranks it
    below its first choice by no more than the largest logit difference between the two runtimes at this
    position (quantisation noise of that size can swap them), counted up to `max_noise`."""
    import numpy as np

    hf_top, gguf_top = int(hf_logits.argmax()), int(gguf_logits.argmax())
    noise = min(float(np.max(np.abs(hf_logits - gguf_logits))), max_noise)
    return hf_top == gguf_top or float(hf_logits[hf_top] - hf_logits[gguf_top]) <= noise


@dataclass(frozen=True)
class Runtimes:
    """The two runtimes compared: the HF model with its tokenizer, the GGUF opened in llama.cpp, and the token ids
    that end a generation."""

    model: object
    tokenizer: object
    llm: object
    stop: set[int]


@dataclass(frozen=True)
class TemplatedPrompt:
    """A user prompt, its text under the HF chat template, and that text's HF token ids."""

    prompt: str
    text: str
    ids: list[int]


def compare_prompt(runtimes: Runtimes, chat: TemplatedPrompt, max_new_tokens: int,
                   max_noise: float) -> tuple[PromptParity, DecodeTiming]:
    """One prompt on both runtimes: tokenizer agreement, prompt-end logits, free-running and forced greedy; a
    near tie counts as agreeing up to a logit difference of `max_noise`."""
    import numpy as np

    model, tokenizer, llm, stop, ids = runtimes.model, runtimes.tokenizer, runtimes.llm, runtimes.stop, chat.ids
    gguf_ids = llm.tokenize(chat.text.encode("utf-8"), add_bos=False, special=True)
    hf_rows, hf_cont, hf_steps, hf_seconds = _hf_greedy(model, ids, max_new_tokens, stop)
    hf_logits = hf_rows[0]
    gg_logits, gg_cont, gguf_steps, gguf_seconds = _gguf_greedy(llm, ids, max_new_tokens, stop)
    forced = [top1_agrees(hf_row, gguf_row, max_noise)
              for hf_row, gguf_row in zip(hf_rows, _gguf_forced_logits(llm, ids, hf_cont), strict=True)]
    parity = PromptParity(
        prompt=chat.prompt,
        n_prompt_tokens=len(ids),
        tokens_match=list(gguf_ids) == list(ids),
        max_logit_diff=float(np.max(np.abs(hf_logits - gg_logits))),
        top1_match=top1_agrees(hf_logits, gg_logits, max_noise),
        hf_continuation=hf_cont,
        gguf_continuation=gg_cont,
        greedy_match=_common_prefix(hf_cont, gg_cont) / max(len(hf_cont), len(gg_cont)),
        forced_top1=sum(forced) / len(hf_cont),
        hf_text=tokenizer.decode(hf_cont, skip_special_tokens=True),
        gguf_text=tokenizer.decode(gg_cont, skip_special_tokens=True),
    )
    return parity, DecodeTiming(hf_steps, hf_seconds, gguf_steps, gguf_seconds)


def aggregate_parity(qtype: str, results: list[PromptParity], timing: DecodeTiming, limits: Tolerance,
                     max_diff_allowed: float) -> ParityReport:
    """The per-prompt comparisons summed up and judged against the qtype's tolerance."""
    max_diff = max(r.max_logit_diff for r in results)
    top1 = sum(r.top1_match for r in results) / len(results)
    matched = sum(_common_prefix(r.hf_continuation, r.gguf_continuation) for r in results)
    generated = sum(max(len(r.hf_continuation), len(r.gguf_continuation)) for r in results)
    greedy = matched / generated
    forced_steps = sum(len(r.hf_continuation) for r in results)
    forced = sum(r.forced_top1 * len(r.hf_continuation) for r in results) / forced_steps
    tokens_match = all(r.tokens_match for r in results)
    passed = (
        tokens_match
        and max_diff <= max_diff_allowed
        and top1 >= limits.min_top1
        and forced >= limits.min_forced_top1
        and greedy >= limits.min_greedy_match
    )
    return ParityReport(
        qtype=qtype,
        max_logit_diff=max_diff,
        top1_agreement=top1,
        greedy_match_rate=greedy,
        forced_top1_agreement=forced,
        tokens_match=tokens_match,
        tolerance=max_diff_allowed,
        passed=passed,
        hf_tokens_per_s=timing.hf_steps / timing.hf_seconds if timing.hf_seconds else 0.0,
        gguf_tokens_per_s=timing.gguf_steps / timing.gguf_seconds if timing.gguf_seconds else 0.0,
        prompts=results,
    )


def check_parity(
    model_dir: Path,
    gguf_path: Path,
    prompts: list[str],
    max_new_tokens: int = 16,
    tolerance: float | None = None,
) -> ParityReport:
    """Compare the GGUF with the HF model on chat-formatted prompts; `tolerance` overrides the
    qtype's default max |logit diff| (the greedy and tokenizer requirements stay)."""
    import torch

    from slm_assets.models import end_of_generation_ids, load_causal_lm, load_tokenizer

    if not prompts:
        raise ValueError("check_parity needs at least one prompt")
    qtype, limits = qtype_tolerance(gguf_path)
    max_diff_allowed = limits.max_logit_diff if tolerance is None else tolerance
    # a local model directory: the cache directory is never used
    tokenizer = load_tokenizer(str(model_dir), Path(model_dir))
    model = load_causal_lm(str(model_dir), Path(model_dir), device="cpu", dtype=torch.float32)
    stop = end_of_generation_ids(model, tokenizer)
    texts, hf_ids = templated_user_prompts(tokenizer, prompts)
    llm = _open_gguf(gguf_path, context_size(max(len(ids) for ids in hf_ids), max_new_tokens))
    results: list[PromptParity] = []
    timing = DecodeTiming()
    runtimes = Runtimes(model, tokenizer, llm, stop)
    try:
        for prompt, text, ids in zip(prompts, texts, hf_ids, strict=True):
            parity, prompt_timing = compare_prompt(runtimes, TemplatedPrompt(prompt, text, ids), max_new_tokens,
                                                   max_diff_allowed)
            results.append(parity)
            timing = timing + prompt_timing
    finally:
        llm.close()
    report = aggregate_parity(qtype, results, timing, limits, max_diff_allowed)
    log.info("parity %s: max|dlogit| %.2e (limit %.2e), top-1 %.2f, forced top-1 %.2f, greedy %.2f, "
             "tokens match %s -> %s", qtype, report.max_logit_diff, max_diff_allowed, report.top1_agreement,
             report.forced_top1_agreement, report.greedy_match_rate, report.tokens_match,
             "pass" if report.passed else "FAIL")
    return report


def gguf_generate_smoke(gguf_path: Path, prompt: str, max_tokens: int = 32) -> str:
    """Reload the GGUF in llama.cpp and answer `prompt` greedily through its embedded chat template."""
    llm = _open_gguf(gguf_path, n_ctx=512, logits_all=False)
    try:
        # With no chat_format given, llama-cpp-python formats messages with the GGUF's
        # tokenizer.chat_template, so this also exercises the template written into the file.
        reply = llm.create_chat_completion(
            messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0
        )
    finally:
        llm.close()
    return reply["choices"][0]["message"]["content"] or ""
