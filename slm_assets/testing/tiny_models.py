"""Tiny randomly initialised models, built from a config (no download).

`tiny_llama` is the one Llama builder: 2 layers, 4 heads, 2 KV heads, the sizes a test names.
`save_tiny_smollm2` saves one with SmolLM2's vocabulary and tokenizer: it generates in milliseconds per token.
`save_random_lora_adapter` saves a small LoRA adapter on any of these models, random or PEFT's no-op start.

`build_tiny_model` makes one model of each architecture family, with tokenizers trained offline.
Every such model: 2 layers, hidden 64, a vocabulary of a few hundred tokens, saved with `save_pretrained`
like a merged fine-tune, plus a chat template of its family (modelled on the family's published HF
template). Weights are drawn with std 0.2 (not the usual 0.02) so logits span several units and a
conversion bug moves them far outside any tolerance. Building one takes about a second.

Tokenizers:
- byte-level BPE (Llama-3, Qwen2 style): trained with the `tokenizers` library, split regex as the
  family's own, special tokens added as control tokens;
- SentencePiece BPE with byte fallback (TinyLlama, Mistral, Phi-3, Gemma style): trained with the
  `sentencepiece` trainer, because llama.cpp's converter reads those families' `tokenizer.model`
  (scores and piece types) and refuses them without it; transformers builds the fast tokenizer from
  the same file.
"""

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from slm_assets.export.gguf import LLAMA3_REGEX, QWEN2_REGEX
from slm_assets.models import GEMMA3_CHAT_TEMPLATE

LAYERS = {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
# saved tiny models: hidden 64, and weights drawn with std 0.2 so logits span several units (visible gibberish
# rather than blank lines; a conversion bug moves them far outside any tolerance)
SHARP = {"hidden_size": 64, "intermediate_size": 128, "initializer_range": 0.2, "tie_word_embeddings": True}
SMOLLM2_VOCAB = 49152


def tiny_llama(vocab_size: int, hidden_size: int, intermediate_size: int, seed: int | None = None, **config):
    """A random LlamaForCausalLM with LAYERS and these sizes (`config`: any other LlamaConfig field). With `seed`
    the weights are drawn under a forked RNG (the global one untouched); without, from torch's global RNG."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         **LAYERS, **config)
    if seed is None:
        return LlamaForCausalLM(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def save_tiny_smollm2(target: Path, tokenizer_dir: Path, seed: int = 0,
                      tokenizer_files: Iterable[str] | None = None) -> Path:
    """A tiny random Llama with SmolLM2's vocabulary and special-token ids, saved with the tokenizer files of
    `tokenizer_dir` (all of them, or those of `tokenizer_files` that exist) as a model directory."""
    model = tiny_llama(SMOLLM2_VOCAB, SHARP["hidden_size"], SHARP["intermediate_size"], seed=seed,
                       max_position_embeddings=1024, initializer_range=SHARP["initializer_range"],
                       tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model.save_pretrained(target)
    files = (tokenizer_dir / name for name in tokenizer_files) if tokenizer_files else tokenizer_dir.iterdir()
    for item in files:
        if item.exists():
            shutil.copy(item, target / item.name)
    return target


def save_random_lora_adapter(base_dir: Path, target: Path, seed: int = 0,
                             random_weights: bool = True) -> Path:
    """A rank-4 LoRA adapter on q_proj and v_proj of the model in `base_dir`, saved to `target`. With
    `random_weights` both its matrices are drawn (under a forked RNG seeded with `seed`), so the adapter
    changes the model's outputs; without, PEFT's own start (B = 0) leaves them exactly as the base model's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=not random_weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base_dir)), config)
    model.save_pretrained(str(target))
    return Path(target)


CORPUS = [
    "Electric vehicles charge from AC wall boxes at home and from DC fast chargers on highways.",
    "A Type 2 connector carries up to 22 kW of three-phase AC power in Europe.",
    "CCS combines the Type 2 plug with two DC pins for fast charging up to 350 kW.",
    "Load management shares the available grid power between charge points.",
    "How long does it take to charge a 60 kWh battery at 7 kW? About nine hours.",
    "Which connector do most European fast chargers use? The CCS2 connector.",
    "Payment works with an app, an RFID card or a contactless bank card.",
    "Roaming lets drivers use one account at chargers of many operators, 1234567890.",
    "Hello! What's the difference between AC and DC charging for an electric car?",
]

# HF chat templates per family (Jinja, as in tokenizer_config.json)
HF_TEMPLATES = {
    "llama3": r"{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
              r"'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
              r"{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
              r"{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "chatml": r"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
              r"{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
              r"{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
              r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "zephyr": r"{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + "
              r"'\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}",
    "phi3": r"{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
            r"{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
    "gemma": GEMMA3_CHAT_TEMPLATE,
    "mistral": r"{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set prefix = messages[0]['content'] + "
               r"'\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set prefix = '' -%}"
               r"{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}"
               r"{%- if message['role'] == 'user' -%}{{ '[INST] ' + (prefix if loop.first else '') + "
               r"message['content'] + '[/INST]' }}{%- else -%}{{ ' ' + message['content'] + eos_token }}{%- endif -%}"
               r"{%- endfor -%}",
}


@dataclass(frozen=True)
class TinyCase:
    name: str
    config_class: str  # transformers config class
    tokenizer: str  # "bpe" (byte-level, tokenizers library) or "spm" (SentencePiece)
    family: str  # chat template family
    specials: tuple[str, ...]  # bos, eos, then chat markers
    regex: str | None = None  # byte-level BPE split regex
    spm_kind: str = "llama"  # SentencePiece id layout: llama (unk, bos, eos) or gemma (pad, eos, bos, unk)


CASES = (
    TinyCase("llama3_bpe", "LlamaConfig", "bpe", "llama3",
             ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
             regex=LLAMA3_REGEX),
    # TinyLlama's turn markers are plain text, not tokens
    TinyCase("tinyllama_spm", "LlamaConfig", "spm", "zephyr", ("<s>", "</s>")),
    TinyCase("qwen2_bpe", "Qwen2Config", "bpe", "chatml", ("<|endoftext|>", "<|im_end|>", "<|im_start|>"),
             regex=QWEN2_REGEX),
    TinyCase("gemma3_spm", "Gemma3TextConfig", "spm", "gemma", ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"),
             spm_kind="gemma"),
    TinyCase("phi3_spm", "Phi3Config", "spm", "phi3", ("<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>",
                                                       "<|end|>", "<|endoftext|>")),
    # Mistral v0.1/v0.2: [INST] is plain text
    TinyCase("mistral_spm", "MistralConfig", "spm", "mistral", ("<s>", "</s>")),
)


def _bpe_tokenizer(case: TinyCase):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(ignore_merges=case.family == "llama3"))  # Llama-3's own setting
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(case.regex), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(case.specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    return tokenizer


def _spm_model(case: TinyCase, target: Path) -> Path:
    import sentencepiece as spm

    ids = ({"pad_id": 0, "eos_id": 1, "bos_id": 2, "unk_id": 3, "pad_piece": "<pad>"} if case.spm_kind == "gemma"
           else {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1})
    prefix = target / "spm"
    # Llama's own trainer settings: identity normalisation, blanks kept, byte fallback, digits split
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_prefix=str(prefix), vocab_size=400, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, add_dummy_prefix=case.spm_kind != "gemma", bos_piece=case.specials[0], eos_piece=case.specials[1],
        user_defined_symbols=list(case.specials[2:]), allow_whitespace_only_pieces=True, minloglevel=2, **ids)
    model = target / "tokenizer.model"
    Path(f"{prefix}.model").replace(model)
    Path(f"{prefix}.vocab").unlink()
    return model


def _hf_tokenizer(case: TinyCase, target: Path):
    """A transformers fast tokenizer with the case's chat template and special tokens."""
    from transformers import PreTrainedTokenizerFast

    bos, eos = case.specials[:2]
    if case.tokenizer == "bpe":
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=_bpe_tokenizer(case), bos_token=bos, eos_token=eos)
    else:
        from transformers import GemmaTokenizer, LlamaTokenizer

        _spm_model(case, target)
        cls = GemmaTokenizer if case.spm_kind == "gemma" else LlamaTokenizer
        # from_pretrained converts tokenizer.model into the fast tokenizer (the constructor alone does not)
        # Llama layout: HF `legacy=True`, the original SentencePiece behaviour llama.cpp implements (a blank before
        # the text after every special token). With `legacy=False` HF prefixes only the start, tokenizes
        # `</s>\n<|assistant|>` differently, and the parity check reports a token mismatch.
        kwargs = {"legacy": True} if case.spm_kind == "llama" else {}
        tokenizer = cls.from_pretrained(str(target), bos_token=bos, eos_token=eos, **kwargs)
        tokenizer.init_kwargs.update(kwargs)  # saved into tokenizer_config.json, so a reload keeps it
    if case.specials[2:]:
        from tokenizers import AddedToken

        # Phi-3's turn markers swallow the blanks after them (rstrip), in its HF tokenizer and in llama.cpp
        markers = [AddedToken(t, special=True, rstrip=case.family == "phi3", normalized=False) for t in case.specials[2:]]
        tokenizer.add_special_tokens({"additional_special_tokens": markers})
    tokenizer.chat_template = HF_TEMPLATES[case.family]
    return tokenizer


def _config(case: TinyCase, vocab_size: int, bos_id: int, eos_id: int):
    import transformers

    common = dict(vocab_size=vocab_size, **LAYERS, **SHARP, max_position_embeddings=512, bos_token_id=bos_id,
                  eos_token_id=eos_id, pad_token_id=eos_id)
    if case.config_class == "Gemma3TextConfig":
        common.update(head_dim=16, sliding_window=64, query_pre_attn_scalar=16)
    if case.config_class == "Phi3Config":
        common.update(tie_word_embeddings=False, original_max_position_embeddings=512)
    if case.config_class == "MistralConfig":
        common.update(sliding_window=None)
    return getattr(transformers, case.config_class)(**common)


def build_tiny_model(case: TinyCase, target: Path, seed: int = 0) -> Path:
    """Save the case's tiny random model, tokenizer and chat template into `target` (a merged-model dir)."""
    import torch
    from transformers import AutoModelForCausalLM

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = _hf_tokenizer(case, target)
    config = _config(case, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):  # seeded without touching the global RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def unsupported_model(target: Path) -> Path:
    """A model directory whose architecture llama.cpp's converter does not know."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_text(json.dumps({"architectures": ["TinyMadeUpForCausalLM"],
                                                    "model_type": "tiny_made_up", "hidden_size": 64}))
    return target

