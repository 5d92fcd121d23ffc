"""The architecture matrix: a tiny random model of each family, with a tokenizer trained offline, goes
save -> convert_hf_to_gguf -> llama.cpp quantizer -> llama.cpp load -> parity -> one answer; and the
Modelfile template renders a conversation as the model's own HF chat template does."""

from pathlib import Path

import pytest
from gguf import GGUFReader

from slm_assets.export.chat_format import chat_format_for, hf_chat_template
from slm_assets.export.gguf import export_ggufs
from slm_assets.export.parity import check_parity, gguf_generate_smoke
from slm_assets.llama_models import gguf_architecture
from slm_assets.testing.go_template import render
from slm_assets.testing.tiny_models import CASES, build_tiny_model

PROMPTS = ["What is the difference between AC and DC charging?", "Which connector do European fast chargers use?"]
CONVERSATION = [
    {"role": "system", "content": "You answer questions about EV charging.\nBe brief."},
    {"role": "user", "content": "What is a Type 2 connector?"},
    {"role": "assistant", "content": "The European AC plug."},
    {"role": "user", "content": "And CCS?"},
]
# general.architecture llama.cpp records per case
ARCHITECTURES = {"llama3_bpe": "llama", "tinyllama_spm": "llama", "qwen2_bpe": "qwen2", "gemma3_spm": "gemma3",
                 "phi3_spm": "phi3", "mistral_spm": "llama"}


@pytest.fixture(scope="module", params=CASES, ids=[case.name for case in CASES])
def tiny_case(request, tmp_path_factory):
    return request.param, build_tiny_model(request.param, tmp_path_factory.mktemp(request.param.name))


def test_convert_quantize_load_parity_and_answer(tiny_case, tmp_path):
    case, model_dir = tiny_case

    infos = export_ggufs(model_dir, tmp_path, case.name, ["f16", "q8_0"])

    assert gguf_architecture(infos["q8_0"].path) in (ARCHITECTURES[case.name], "mistral")
    f16 = check_parity(model_dir, infos["f16"].path, PROMPTS, max_new_tokens=6)
    assert f16.tokens_match, [(p.prompt, p.n_prompt_tokens) for p in f16.prompts]
    assert f16.passed, (f16.max_logit_diff, f16.forced_top1_agreement)
    q8 = check_parity(model_dir, infos["q8_0"].path, PROMPTS, max_new_tokens=6, tolerance=1e9)
    assert q8.tokens_match and q8.max_logit_diff < 2.0 * max(f16.max_logit_diff, 0.25)
    answer = gguf_generate_smoke(infos["q8_0"].path, PROMPTS[0], max_tokens=8)
    # llama.cpp formats the conversation with the template the GGUF carries: the model's own, written by the
    # converter; random weights answer any text (even none), but never the template's turn markers as text
    template = GGUFReader(str(infos["q8_0"].path)).get_field("tokenizer.chat_template")
    assert template is not None and template.contents() == hf_chat_template(model_dir)
    leaked = [marker for marker in case.specials if marker in answer]
    assert leaked == [], (case.name, answer)


def test_modelfile_template_renders_the_hf_chat_template(tiny_case):
    from transformers import AutoTokenizer

    case, model_dir = tiny_case
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    chat_format = chat_format_for(model_dir)
    hf_text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    # llama.cpp/Ollama add BOS as a token (tokenizer.ggml.add_bos_token), not as template text
    if tokenizer.bos_token and hf_text.startswith(tokenizer.bos_token):
        hf_text = hf_text[len(tokenizer.bos_token):]

    assert chat_format is not None and chat_format.family == case.family
    assert render(chat_format.template, CONVERSATION) == hf_text
    assert tokenizer.eos_token in chat_format.stops


def test_an_unknown_chat_template_gets_no_template(tmp_path: Path):
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    assert chat_format_for(tmp_path) is None
