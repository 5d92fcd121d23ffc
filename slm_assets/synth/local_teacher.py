"""A teacher run in this process with transformers: any causal LM with a chat template.

Same prompts, same JSON format and same parsing as the API teachers (LLMTeacher); only the
completion is local. No rate limits apply, but prompt and completion tokens are counted exactly
with the model's own tokenizer, so budgets and accepted-per-token figures compare across teachers.
Generation is serialised with a lock: one model, and threads would only contend for the same cores.
"""

import threading
from pathlib import Path

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

        sample = self.temperature > 0
        kwargs = {"max_new_tokens": max_tokens, "do_sample": sample,
                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if sample:
            kwargs["temperature"] = self.temperature
        with self.lock:  # fast tokenizers are not safe to share between threads either
            inputs = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            )
            n_prompt = len(inputs["input_ids"][0])
            try:
                if sample:
                    torch.manual_seed(self.seed)
                device = getattr(self.lm, "device", None)
                if device is not None and hasattr(inputs, "to"):
                    inputs = inputs.to(device)
                with torch.inference_mode():
                    output = self.lm.generate(**inputs, **kwargs)  # (1, prompt + new)
            except (RuntimeError, ValueError) as exc:  # out of memory, bad generation settings
                raise TeacherError(f"local {self.model}: {type(exc).__name__}: {exc}") from exc
            new_ids = output[0][n_prompt:]
            content = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        return content, n_prompt, len(new_ids)

def load_local_teacher(reference: str, cache_dir: Path, topic: str, temperature: float, max_tokens: int,
                       seed: int) -> LocalTeacher:
    """Load `reference` (bundled:..., a directory or a hub id) the way every other stage loads models."""
    from slm_assets.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(reference, cache_dir)
    if getattr(tokenizer, "chat_template", None) is None:
        raise TeacherError(f"local teacher {reference!r} has no chat template; use an instruction-tuned model")
    model = load_causal_lm(reference, cache_dir)
    return LocalTeacher(model, tokenizer, reference, topic, temperature, max_tokens, seed)
