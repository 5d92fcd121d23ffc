"""Helpers for the evaluation tests: a tiny random Llama and benchmark-shaped rows."""

import shutil
from pathlib import Path


def make_tiny_llama(target: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A saved 2-layer random Llama (hidden 64) that generates in milliseconds per token."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=49152, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=1024,
                         tie_word_embeddings=True, initializer_range=0.2,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    for item in tokenizer_dir.iterdir():
        shutil.copy(item, target / item.name)
    return target


EV_QUESTIONS = [
    ("Which connector do most European AC chargers use?", "The Type 2 connector is the European AC standard."),
    ("What does CCS stand for?", "CCS stands for Combined Charging System."),
    ("How much power can a CCS2 charger deliver?", "A CCS2 charger can deliver up to 350 kW of DC power."),
    ("What is load management?", "Load management shares the available grid power between charge points."),
]


def sft_rows(questions=EV_QUESTIONS, system: str = "You answer questions about EV charging.") -> list[dict]:
    """Rows shaped like the SFT test split."""
    return [{"qa_id": f"qa{i:03d}", "doc_id": f"doc{i % 2}", "chunk_id": f"c{i}", "question": q,
             "prompt": [{"role": "system", "content": system}, {"role": "user", "content": q}],
             "completion": [{"role": "assistant", "content": a}]} for i, (q, a) in enumerate(questions)]
