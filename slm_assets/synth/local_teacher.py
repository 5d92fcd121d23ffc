"""A teacher run in this process with transformers: any causal LM with a chat template.

Same prompts, same JSON format and same parsing as the API teachers (LLMTeacher); only the
completion is local (`generation.complete_chat`: it ends at the model's end-of-turn token rather than
running to max_tokens). No rate limits apply, but prompt and completion tokens are counted exactly
with the model's own tokenizer, so budgets and accepted-per-token figures compare across teachers.
Generation is serialised with a lock: one model, and threads would only contend for the same cores.
"""

import threading
from pathlib import Path

from slm_assets.generation import complete_chat
from slm_assets.synth.teachers import LLMTeacher
from slm_assets.teacher_client.client import TeacherError


class LocalTeacher(LLMTeacher):
    """`model` and `tokenizer` are a loaded transformers pair (or objects with the same methods)."""

    provider = "local"

    def __init__(self, model, tokenizer, model_name: str, topic: str, temperature: float, max_tokens: int,
                 seed: int):
        self.lm, self.tokenizer, self.model = model, tokenizer, model_name
        self.topic, self.temperature, self.max_tokens, self.seed = topic, temperature, max_tokens, seed
        self.lock = threading.Lock()

    def _complete(self, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        import torch

        with self.lock:  # fast tokenizers are not safe to share between threads either
            try:
                if self.temperature > 0:
                    torch.manual_seed(self.seed)
                completion = complete_chat(self.lm, self.tokenizer, messages, max_tokens, self.temperature)
            except (RuntimeError, ValueError) as exc:  # out of memory, bad generation settings
                raise TeacherError(f"local {self.model}: {type(exc).__name__}: {exc}") from exc
        return completion.text, completion.prompt_tokens, completion.completion_tokens


def load_local_teacher(reference: str, cache_dir: Path, topic: str, temperature: float, max_tokens: int,
                       seed: int) -> LocalTeacher:
    """Load `reference` (bundled:..., a directory or a hub id) the way every other stage loads models."""
    from slm_assets.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(reference, cache_dir)
    if getattr(tokenizer, "chat_template", None) is None:
        raise TeacherError(f"local teacher {reference!r} has no chat template; use an instruction-tuned model")
    model = load_causal_lm(reference, cache_dir)
    return LocalTeacher(model, tokenizer, reference, topic, temperature, max_tokens, seed)
