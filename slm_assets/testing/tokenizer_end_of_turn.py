"""A tiny model whose end of turn only its tokenizer knows, as a ChatML tokenizer (eos <|im_end|>) beside a base
model's generation config (eos <|endoftext|>): generation that stops only at the generation config's eos runs on
to max_tokens with it."""

import shutil
from pathlib import Path

from slm_assets.generation import chat_prompt_ids

ENDOFTEXT = "<|endoftext|>"


def save_model_with_tokenizer_only_end_of_turn(source: Path, target: Path, messages: list[dict]) -> int:
    """Copy the model directory `source` (SmolLM2's vocabulary) to `target`; make the model's greedy first answer
    token to `messages` its tokenizer's eos (a random model never writes the real end of turn), and name only
    <|endoftext|> in its generation config. Returns that token id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shutil.copytree(source, target)
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    model = AutoModelForCausalLM.from_pretrained(str(target)).eval()
    (ids,) = chat_prompt_ids(tokenizer, [messages])
    with torch.no_grad():
        first = int(model(torch.tensor([ids])).logits[0, -1].argmax())  # logits (1, T, V): the greedy first token
    endoftext = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    if first in (endoftext, tokenizer.eos_token_id):
        raise ValueError(f"{source}: the model ends its turn by itself on these messages; seed another model")
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(first)
    tokenizer.save_pretrained(target)
    model.generation_config.eos_token_id = endoftext
    model.generation_config.save_pretrained(target)
    return first
