"""Read a saved Hugging Face byte-level BPE tokenizer into the GGUF `tokenizer.ggml.*` metadata.

llama.cpp's `gpt2` tokenizer model wants the token strings in id order (byte-level, `Ġ` for a
space), a type per token, the merges in rank order, the special token ids, and the name of a
pre-tokenizer it knows (`tokenizer.ggml.pre`): the regex that splits text before BPE. That name
cannot be read from the HF files directly, so it is derived from the pre-tokenizer's structure
for the shapes we know, and `check_parity` compares the two tokenizations to catch a wrong one.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# llama.cpp token types (gguf.TokenType); written as plain ints so this module imports nothing heavy.
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


@dataclass(frozen=True)
class HfVocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int]  # "bos" / "eos" / "pad" / "unk" -> id, only those the tokenizer names
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool
    chat_template: str | None


def _pre_tokenizer_name(pre: dict[str, Any] | None) -> str:
    """Map the HF pre-tokenizer to the llama.cpp pre-tokenizer with the same split regex."""

    def byte_level_with_regex(node: dict[str, Any]) -> bool:
        return node.get("type") == "ByteLevel" and node.get("use_regex", True)

    if pre is None:
        raise ValueError("tokenizer.json has no pre_tokenizer; only byte-level BPE tokenizers are supported")
    if byte_level_with_regex(pre):
        return "gpt-2"  # the GPT-2 regex, exactly what ByteLevel(use_regex=True) applies
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers", [])
        kinds = [step.get("type") for step in steps]
        if (
            kinds == ["Digits", "ByteLevel"]
            and steps[0].get("individual_digits")
            and byte_level_with_regex(steps[1])
        ):
            # Each digit on its own, then the GPT-2 regex: llama.cpp's `smollm` (= starcoder) split.
            return "smollm"
    raise ValueError(
        f"unsupported pre-tokenizer {json.dumps(pre)[:200]}: pass tokenizer_pre= with the llama.cpp "
        "name of the equivalent split (and let check_parity confirm the tokens match)"
    )


def _token_content(value: Any) -> str | None:
    # tokenizer_config.json stores special tokens either as a string or as {"content": ...}.
    if isinstance(value, dict):
        return value.get("content")
    return value


def _adds_special_prefix(post: dict[str, Any] | None) -> tuple[bool, bool]:
    """Whether the post-processor puts a special token before / after a single sequence."""
    if not post:
        return False, False
    if post.get("type") == "Sequence":
        results = [_adds_special_prefix(step) for step in post.get("processors", [])]
        return any(r[0] for r in results), any(r[1] for r in results)
    if post.get("type") != "TemplateProcessing":
        return False, False
    single = post.get("single", [])
    if not single:
        return False, False
    return "SpecialToken" in single[0], "SpecialToken" in single[-1]


def read_hf_vocab(model_dir: Path, vocab_size: int, tokenizer_pre: str | None = None) -> HfVocab:
    """Tokens padded to the model's `vocab_size` (embedding rows), with the HF tokenizer's settings."""
    tokenizer_file = model_dir / "tokenizer.json"
    if not tokenizer_file.exists():
        raise ValueError(f"{model_dir} has no tokenizer.json (a fast byte-level BPE tokenizer is needed)")
    spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    config_file = model_dir / "tokenizer_config.json"
    tok_config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}

    model = spec["model"]
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise ValueError(
            f"tokenizer model {model.get('type')!r} (byte_fallback={model.get('byte_fallback')}) is not a "
            "byte-level BPE; only GPT-2 style tokenizers (tokenizer.ggml.model = gpt2) are supported"
        )

    id_to_token: dict[int, str] = {index: token for token, index in model["vocab"].items()}
    special: dict[int, bool] = {}
    for added in spec.get("added_tokens", []):
        id_to_token[added["id"]] = added["content"]
        special[added["id"]] = bool(added.get("special"))
    if max(id_to_token) >= vocab_size:
        raise ValueError(
            f"tokenizer has token id {max(id_to_token)} but the model's vocab_size is {vocab_size}"
        )

    tokens: list[str] = []
    token_types: list[int] = []
    for index in range(vocab_size):
        token = id_to_token.get(index)
        if token is None:
            # Embedding rows no token maps to (vocab padded to a multiple): llama.cpp needs a
            # unique string for each, marked unused so it never produces them.
            tokens.append(f"[PAD{index}]")
            token_types.append(UNUSED)
        elif index in special:
            tokens.append(token)
            token_types.append(CONTROL if special[index] else USER_DEFINED)
        else:
            tokens.append(token)
            token_types.append(NORMAL)

    # Newer tokenizers.json files store merges as [left, right] pairs, older ones as "left right".
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    token_to_id = {token: index for index, token in id_to_token.items()}
    special_ids: dict[str, int] = {}
    for kind in ("bos", "eos", "pad", "unk"):
        content = _token_content(tok_config.get(f"{kind}_token"))
        if content is not None and content in token_to_id:
            special_ids[kind] = token_to_id[content]

    prefix, suffix = _adds_special_prefix(spec.get("post_processor"))
    add_bos = tok_config.get("add_bos_token", prefix)
    add_eos = tok_config.get("add_eos_token", suffix)

    pre = spec.get("pre_tokenizer") or {}
    add_space_prefix = bool(pre.get("add_prefix_space", False)) if pre.get("type") == "ByteLevel" else False

    chat_template = tok_config.get("chat_template")
    if isinstance(chat_template, list):  # [{"name": "default", "template": ...}, ...]
        by_name = {entry["name"]: entry["template"] for entry in chat_template}
        chat_template = by_name.get("default")
    template_file = model_dir / "chat_template.jinja"
    if chat_template is None and template_file.exists():
        chat_template = template_file.read_text(encoding="utf-8")

    return HfVocab(
        tokens=tokens,
        token_types=token_types,
        merges=merges,
        pre=tokenizer_pre or _pre_tokenizer_name(spec.get("pre_tokenizer")),
        special_ids=special_ids,
        add_bos=bool(add_bos),
        add_eos=bool(add_eos),
        add_space_prefix=add_space_prefix,
        chat_template=chat_template,
    )


def add_vocab(writer, vocab: HfVocab, fallback_ids: dict[str, int]) -> None:
    """Write the tokenizer keys; `fallback_ids` (from config.json) fill special ids the tokenizer lacks."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    ids = {**fallback_ids, **vocab.special_ids}
    adders = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "pad": writer.add_pad_token_id,
        "unk": writer.add_unk_token_id,
    }
    for kind, add in adders.items():
        if kind in ids:
            add(ids[kind])
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    writer.add_add_space_prefix(vocab.add_space_prefix)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
    else:
        log.warning("tokenizer has no chat template; the GGUF will carry none")
