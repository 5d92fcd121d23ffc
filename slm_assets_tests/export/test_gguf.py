"""GGUF export: written files load in llama.cpp and give the logits transformers gives."""

import json
from pathlib import Path

import pytest

import slm_assets.export.gguf as gguf_export
from slm_assets.export.gguf import write_gguf
from slm_assets.export.modelfile import CHATML_STOPS, write_modelfile
from slm_assets.export.parity import DEFAULT_TOLERANCES, check_parity, gguf_generate_smoke

EV_PROMPTS = [
    "What is the difference between AC and DC charging for an electric car?",
    "How long does it take to charge a 60 kWh battery at a 7 kW home charger?",
    "Which connector do most European fast chargers use?",
]


def _tiny_llama(target: Path, tokenizer_dir: Path, rope_parameters: dict | None = None) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer, saved like a fine-tuned model would be.

    Weights are drawn with std 0.2 (not the usual 0.02) so attention is sharp and logits span
    several units: a wrong q/k layout then moves logits by whole units, far outside any tolerance.
    """
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        initializer_range=0.2,
        rope_parameters=rope_parameters or {"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    with torch.random.fork_rng(devices=[]):  # seeded without touching the global RNG
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    for item in tokenizer_dir.iterdir():
        shutil.copy(item, target / item.name)
    return target


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    return _tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm2_tokenizer_dir)


@pytest.mark.parametrize("qtype", ["f32", "f16", "q8_0", "q5_0", "q4_0"])
def test_tiny_gguf_logits_match_transformers(tiny_llama_dir, tmp_path, qtype):
    info = write_gguf(tiny_llama_dir, tmp_path / f"tiny-{qtype}.gguf", qtype)

    report = check_parity(tiny_llama_dir, info.path, EV_PROMPTS, max_new_tokens=6)

    assert report.qtype == qtype
    assert report.tokens_match
    assert report.max_logit_diff <= DEFAULT_TOLERANCES[qtype].max_logit_diff
    if qtype == "f32":
        # Random weights leave near-ties that F16/Q8 rounding may flip; F32 must agree exactly.
        assert report.passed
        assert report.greedy_match_rate == 1.0
    # token_embd, output_norm, 9 per layer; tied embeddings, so no output.weight
    assert info.n_tensors == 2 + 2 * 9
    assert info.n_bytes == info.path.stat().st_size and len(info.sha256) == 64


def test_gguf_without_qk_interleave_fails_parity(tiny_llama_dir, tmp_path, monkeypatch):
    # Writing HF's half-split rope rows as they are is the classic conversion bug.
    monkeypatch.setattr(gguf_export, "_interleave_rope_rows", lambda weight, n_heads: weight)
    info = write_gguf(tiny_llama_dir, tmp_path / "unpermuted.gguf", "f32")

    report = check_parity(tiny_llama_dir, info.path, EV_PROMPTS, max_new_tokens=4)

    assert not report.passed
    assert report.max_logit_diff > 1.0


@pytest.mark.parametrize(
    "rope",
    [
        {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
        {
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    ],
    ids=["linear", "llama3"],
)
def test_rope_scaling_is_exported(tmp_path, smollm2_tokenizer_dir, rope):
    model_dir = _tiny_llama(tmp_path / "model", smollm2_tokenizer_dir, rope)
    info = write_gguf(model_dir, tmp_path / "scaled.gguf", "f32")

    report = check_parity(model_dir, info.path, EV_PROMPTS[:2], max_new_tokens=4)

    assert report.passed, report.max_logit_diff


def test_gguf_metadata_and_tensor_types(tiny_llama_dir, tmp_path):
    from gguf import GGMLQuantizationType, GGUFReader

    info = write_gguf(
        tiny_llama_dir,
        tmp_path / "tiny.gguf",
        "q8_0",
        name="ev-charging-assistant",
        metadata={"slm_assets.domain": "ev-charging", "slm_assets.version": 3},
    )

    reader = GGUFReader(str(info.path))
    value = {key: field.contents() for key, field in reader.fields.items() if key != "tokenizer.ggml.merges"}
    assert value["general.architecture"] == "llama"
    assert value["general.name"] == "ev-charging-assistant"
    assert value["slm_assets.domain"] == "ev-charging" and value["slm_assets.version"] == 3
    assert value["llama.block_count"] == 2 and value["llama.embedding_length"] == 64
    assert value["llama.attention.head_count"] == 4 and value["llama.attention.head_count_kv"] == 2
    assert value["llama.context_length"] == 512 and value["llama.feed_forward_length"] == 128
    assert value["llama.rope.freq_base"] == 10000.0 and value["llama.rope.dimension_count"] == 16
    assert value["tokenizer.ggml.model"] == "gpt2" and value["tokenizer.ggml.pre"] == "gpt-2"
    assert len(value["tokenizer.ggml.tokens"]) == 49152
    assert value["tokenizer.ggml.tokens"][2] == "<|im_end|>"
    assert value["tokenizer.ggml.eos_token_id"] == 2 and value["tokenizer.ggml.bos_token_id"] == 1
    assert value["tokenizer.ggml.add_bos_token"] is False
    assert "<|im_start|>" in value["tokenizer.chat_template"]
    types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
    assert "output.weight" not in types
    assert types["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
    assert types["blk.0.attn_q.weight"] == GGMLQuantizationType.Q8_0
    assert types["token_embd.weight"] == GGMLQuantizationType.Q8_0


def test_refuses_a_non_llama_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))

    with pytest.raises(ValueError, match="gpt2"):
        write_gguf(tmp_path, tmp_path / "out.gguf", "f16")


def _read_modelfile(text: str) -> list[tuple[str, str]]:
    """Commands as Ollama's parser reads them: a triple-quoted value ends at the first line break
    where the text so far ends in three quotes; no escapes exist."""
    commands, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        if name == "PARAMETER":
            key, _, value = value.partition(" ")
            name = f"PARAMETER {key}"
        if value.startswith('"""'):
            while not (len(value) >= 6 and value.rstrip(" \t").endswith('"""')):
                value += "\n" + lines[i]
                i += 1
            value = value.rstrip(" \t")[3:-3]
        elif value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        commands.append((name, value))
    return commands


def test_modelfile_carries_template_stops_and_system_prompt_verbatim(tmp_path):
    system = 'You answer questions about EV charging.\nSay "I don\'t know" when unsure; paths like C:\\ev stay.\n"Quoted" end"'

    path = write_modelfile(
        "ev-charging-q8_0.gguf", tmp_path, system, params={"temperature": 0.2, "num_ctx": 2048}
    )

    commands = _read_modelfile(path.read_text())
    assert commands[0] == ("FROM", "./ev-charging-q8_0.gguf")
    assert dict(commands)["SYSTEM"] == system
    template = dict(commands)["TEMPLATE"]
    assert "{{ range .Messages }}" in template.replace("{{-", "{{")
    assert "<|im_start|>{{ .Role }}" in template and template.endswith("<|im_start|>assistant\n")
    assert [value for name, value in commands if name == "PARAMETER stop"] == list(CHATML_STOPS)
    assert ("PARAMETER temperature", "0.2") in commands and ("PARAMETER num_ctx", "2048") in commands


def test_modelfile_refuses_a_prompt_it_cannot_quote(tmp_path):
    with pytest.raises(ValueError, match="three quotes"):
        write_modelfile("m.gguf", tmp_path, 'ends early """\nrest')


@pytest.mark.slow
def test_bundled_smollm2_q8_0_export(bundled_model_dir, tmp_path):
    info = write_gguf(
        bundled_model_dir, tmp_path / "smollm2-q8_0.gguf", "q8_0", metadata={"slm_assets.domain": "ev"}
    )

    report = check_parity(bundled_model_dir, info.path, EV_PROMPTS, max_new_tokens=16)

    # 135M parameters at ~1.06 bytes each (Q8_0: 34 bytes per 32 weights) plus F32 norms: ~145 MB
    assert 130e6 < info.n_bytes < 160e6
    assert report.passed, report
    assert report.tokens_match and report.top1_agreement == 1.0
    assert report.forced_top1_agreement >= DEFAULT_TOLERANCES["q8_0"].min_forced_top1
    answer = gguf_generate_smoke(info.path, EV_PROMPTS[0])
    assert len(answer.split()) >= 3, answer
