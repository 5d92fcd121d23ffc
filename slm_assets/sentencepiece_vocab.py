"""A SentencePiece `tokenizer.model` rebuilt from a GGUF's own vocabulary.

A GGUF whose tokenizer is llama.cpp's `llama` model (SentencePiece: Gemma, TinyLlama, Mistral) stores
every piece, score and piece type, and the few normaliser flags llama.cpp uses. Transformers rebuilds
a fast tokenizer (tokenizer.json) from that, but no `tokenizer.model`; llama.cpp's converter then
reads such a directory as a GPT-2 byte-level vocabulary (Gemma 3) or refuses it. This module writes
the SentencePiece model the converter expects, so a model that came in as GGUF goes back out as one.

llama.cpp's token types use SentencePiece's numbering (1 normal, 2 unknown, 3 control, 4 user
defined, 5 unused, 6 byte), so the types are copied as they are. The converter writes user-defined
pieces with plain blanks; they get SentencePiece's "\u2581" back.
"""

from pathlib import Path

_MODEL_TYPE_BPE = 2  # sentencepiece TrainerSpec.ModelType: llama.cpp's `llama` vocabularies merge by score (BPE)
_USER_DEFINED = 4
_BLANK = "\u2581"  # SentencePiece's visible blank


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None or not field.data:
        return default
    return field.contents()


def sentencepiece_model_from_gguf(gguf_path: Path) -> bytes | None:
    """The serialized SentencePiece ModelProto of a GGUF's vocabulary; None unless its tokenizer is SentencePiece."""
    from gguf import GGUFReader
    from sentencepiece import sentencepiece_model_pb2

    reader = GGUFReader(str(gguf_path))
    if _field(reader, "tokenizer.ggml.model") != "llama":
        return None
    tokens = _field(reader, "tokenizer.ggml.tokens")
    scores = _field(reader, "tokenizer.ggml.scores") or [0.0] * len(tokens)
    types = _field(reader, "tokenizer.ggml.token_type") or [1] * len(tokens)
    proto = sentencepiece_model_pb2.ModelProto()
    for token, score, kind in zip(tokens, scores, types, strict=True):
        piece = proto.pieces.add()
        if kind == _USER_DEFINED:  # llama.cpp's converter wrote these with blanks for SentencePiece's "▁"
            token = token.replace(" ", _BLANK)
        piece.piece, piece.score, piece.type = token, float(score), int(kind)
    spec = proto.trainer_spec
    spec.model_type = _MODEL_TYPE_BPE
    spec.vocab_size = len(tokens)
    spec.byte_fallback = 6 in set(types)
    # llama.cpp merges across blanks ("▁▁" pieces), as these settings let SentencePiece do
    spec.allow_whitespace_only_pieces, spec.split_by_whitespace = True, False
    spec.unk_id = int(_field(reader, "tokenizer.ggml.unknown_token_id", 0))
    spec.bos_id = int(_field(reader, "tokenizer.ggml.bos_token_id", -1))
    spec.eos_id = int(_field(reader, "tokenizer.ggml.eos_token_id", -1))
    spec.pad_id = int(_field(reader, "tokenizer.ggml.padding_token_id", -1))
    if 0 <= spec.unk_id < len(tokens):  # SentencePiece needs one UNKNOWN piece; some GGUFs type it CONTROL
        proto.pieces[spec.unk_id].type = sentencepiece_model_pb2.ModelProto.SentencePiece.UNKNOWN
    for name, token_id in (("unk_piece", spec.unk_id), ("bos_piece", spec.bos_id), ("eos_piece", spec.eos_id),
                           ("pad_piece", spec.pad_id)):
        if 0 <= token_id < len(tokens):
            setattr(spec, name, tokens[token_id])
    normalizer = proto.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = bool(_field(reader, "tokenizer.ggml.add_space_prefix", True))
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()


def write_sentencepiece_model(gguf_path: Path, model_dir: Path) -> Path | None:
    """Write `model_dir/tokenizer.model` from the GGUF's vocabulary; None (nothing written) for other tokenizers."""
    data = sentencepiece_model_from_gguf(gguf_path)
    if data is None:
        return None
    target = Path(model_dir) / "tokenizer.model"
    target.write_bytes(data)
    return target
