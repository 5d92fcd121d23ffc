"""What several training tests build: the tiny Llama with SmolLM2's tokenizer, and a chat-format split."""

import json


def tiny_model_with_tokenizer(tiny_llama_dir, bundled_model_dir, target):
    """The tiny architecture with SmolLM2's real tokenizer (vocabulary resized to match), saved to `target`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    config = AutoConfig.from_pretrained(tiny_llama_dir)
    config.vocab_size = len(tokenizer)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def write_chat_split(folder, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": f"Answer number {i}."}]} for i in range(n)]
    for split in ("train", "val"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
