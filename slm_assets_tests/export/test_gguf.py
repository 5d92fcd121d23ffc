"""GGUF export through llama.cpp's converter and quantizer: files load in llama.cpp and give the
logits transformers gives, within each quantisation's tolerance."""

import json

import pytest

from slm_assets.export.gguf import (
    GgufExportError,
    convert_to_gguf,
    export_ggufs,
    quantize_gguf,
    tokenizer_pre,
)
from slm_assets.export.modelfile import CHATML_STOPS, write_modelfile
from slm_assets.export.parity import DEFAULT_TOLERANCES, check_parity, gguf_qtype
from slm_assets.testing.tiny_models import save_tiny_smollm2

EV_PROMPTS = [
    "What is the difference between AC and DC charging for an electric car?",
    "How long does it take to charge a 60 kWh battery at a 7 kW home charger?",
    "Which connector do most European fast chargers use?",
]


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_converter_output_matches_transformers(tiny_smollm2_dir, tmp_path, outtype):
    info = convert_to_gguf(tiny_smollm2_dir, tmp_path / f"tiny-{outtype}.gguf", outtype)

    report = check_parity(tiny_smollm2_dir, info.path, EV_PROMPTS, max_new_tokens=6)

    assert report.qtype == outtype == gguf_qtype(info.path)
    assert report.tokens_match
    assert report.max_logit_diff <= DEFAULT_TOLERANCES[outtype].max_logit_diff
    if outtype == "f32":
        # Random weights leave near-ties that F16 rounding may flip; F32 must agree exactly.
        assert report.passed and report.greedy_match_rate == 1.0
    assert info.n_bytes == info.path.stat().st_size and len(info.sha256) == 64


@pytest.mark.parametrize("qtype", ["q8_0", "q6_k", "q5_k_m", "q4_k_m"])
def test_quantizer_writes_each_type_and_it_loads(tiny_smollm2_dir, tiny_smollm2_f16_gguf, tmp_path, qtype):
    info = quantize_gguf(tiny_smollm2_f16_gguf, tmp_path / f"tiny-{qtype}.gguf", qtype, threads=1)

    report = check_parity(tiny_smollm2_dir, info.path, EV_PROMPTS[:2], max_new_tokens=4, tolerance=1e9)

    assert gguf_qtype(info.path) == qtype
    assert info.n_bytes < tiny_smollm2_f16_gguf.stat().st_size
    assert report.tokens_match and report.max_logit_diff < 10.0  # loads and computes the same model, roughly


def test_tensor_types_replace_the_quantizers_choice_for_the_matching_tensors(tiny_smollm2_f16_gguf, tmp_path):
    from gguf import GGUFReader

    def block_types(path) -> dict[str, set[str]]:
        kinds: dict[str, set[str]] = {}
        for tensor in GGUFReader(str(path)).tensors:
            if tensor.name.startswith("blk.") and tensor.name.endswith(".weight"):
                kinds.setdefault(tensor.name.split(".")[2], set()).add(tensor.tensor_type.name)
        return kinds

    plain = block_types(quantize_gguf(tiny_smollm2_f16_gguf, tmp_path / "plain.gguf", "q4_k_m", threads=1).path)
    mixed = block_types(quantize_gguf(tiny_smollm2_f16_gguf, tmp_path / "mixed.gguf", "q4_k_m", threads=1,
                                      tensor_types={"attn_v|ffn_down": "q8_0"}).path)

    assert plain["ffn_down"] != {"Q8_0"} and plain["attn_v"] != {"Q8_0"}  # llama.cpp's own mix first
    assert mixed["ffn_down"] == mixed["attn_v"] == {"Q8_0"}
    assert {k: v for k, v in mixed.items() if k not in ("ffn_down", "attn_v")} == {
        k: v for k, v in plain.items() if k not in ("ffn_down", "attn_v")}  # every other tensor as before
    with pytest.raises(ValueError, match="q3_xl"):
        quantize_gguf(tiny_smollm2_f16_gguf, tmp_path / "bad.gguf", "q4_k_m", tensor_types={"ffn_down": "q3_xl"})


def test_parity_fails_for_a_gguf_of_other_weights(tmp_path, smollm2_tokenizer_dir, tiny_smollm2_dir):
    other = save_tiny_smollm2(tmp_path / "other", smollm2_tokenizer_dir, seed=1)
    info = convert_to_gguf(other, tmp_path / "other-f32.gguf", "f32")

    report = check_parity(tiny_smollm2_dir, info.path, EV_PROMPTS[:2], max_new_tokens=4)

    assert not report.passed and report.max_logit_diff > 1.0


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
def test_rope_scaling_is_exported(tmp_path, tiny_smollm2_dir, rope):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for item in tiny_smollm2_dir.iterdir():
        (model_dir / item.name).write_bytes(item.read_bytes())
    config = json.loads((model_dir / "config.json").read_text())
    config["rope_parameters"] = rope
    (model_dir / "config.json").write_text(json.dumps(config))
    info = convert_to_gguf(model_dir, tmp_path / "scaled.gguf", "f32")

    report = check_parity(model_dir, info.path, EV_PROMPTS[:2], max_new_tokens=4)

    assert report.passed, report.max_logit_diff


def test_export_writes_each_quantisation_with_metadata_and_tokenizer(tiny_smollm2_dir, tmp_path):
    from gguf import GGUFReader

    infos = export_ggufs(tiny_smollm2_dir, tmp_path, "ev", ["q4_k_m", "q8_0"], name="slm-ev",
                         metadata={"slm_assets.domain": "ev", "slm_assets.version": 3})

    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev-q4_k_m.gguf", "ev-q8_0.gguf"]  # no f16 left over
    reader = GGUFReader(str(infos["q4_k_m"].path))
    value = {key: field.contents() for key, field in reader.fields.items() if key != "tokenizer.ggml.merges"}
    assert value["general.architecture"] == "llama" and value["general.name"] == "slm-ev"
    assert value["slm_assets.domain"] == "ev" and value["slm_assets.version"] == 3  # kept by the quantizer
    assert value["llama.block_count"] == 2 and value["llama.embedding_length"] == 64
    assert value["tokenizer.ggml.model"] == "gpt2" and value["tokenizer.ggml.pre"] == "smollm"
    assert value["tokenizer.ggml.tokens"][2] == "<|im_end|>" and value["tokenizer.ggml.eos_token_id"] == 2
    assert "<|im_start|>" in value["tokenizer.chat_template"]
    assert gguf_qtype(infos["q8_0"].path) == "q8_0"


def test_refuses_an_architecture_the_converter_does_not_know(tmp_path):
    from slm_assets.testing.tiny_models import unsupported_model

    model_dir = unsupported_model(tmp_path / "made-up")

    with pytest.raises(GgufExportError, match="TinyMadeUpForCausalLM"):
        convert_to_gguf(model_dir, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_refuses_an_adapter_directory_and_unknown_quantisations(tmp_path, tiny_smollm2_f16_gguf):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(GgufExportError, match="merge the LoRA"):
        convert_to_gguf(tmp_path, tmp_path / "out.gguf")
    with pytest.raises(GgufExportError, match="q3_xl"):
        quantize_gguf(tiny_smollm2_f16_gguf, tmp_path / "out.gguf", "q3_xl")


def test_pre_tokenizer_is_read_from_the_split_regex(tmp_path):
    from slm_assets.export.gguf import LLAMA3_REGEX

    split = {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, {"type": "ByteLevel", "use_regex": False}]}}))
    assert tokenizer_pre(tmp_path) == "llama-bpe"
    split["pattern"]["Regex"] = "[a-z]+"
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": split}))
    assert tokenizer_pre(tmp_path) is None


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


def test_smollm2_modelfile_comes_from_its_own_chat_template(smollm2_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    from slm_assets.export.chat_format import chat_format_for
    from slm_assets.testing.go_template import render

    conversation = [{"role": "system", "content": "You answer questions about EV charging."},
                    {"role": "user", "content": "What is CCS?"}, {"role": "assistant", "content": "A DC plug."},
                    {"role": "user", "content": "And Type 2?"}]
    chat_format = chat_format_for(smollm2_tokenizer_dir)
    path = write_modelfile("ev-q4_k_m.gguf", tmp_path, "You answer questions about EV charging.", chat_format)

    commands = _read_modelfile(path.read_text())
    hf_text = AutoTokenizer.from_pretrained(str(smollm2_tokenizer_dir)).apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True)
    assert chat_format.family == "chatml"
    assert render(dict(commands)["TEMPLATE"], conversation) == hf_text
    assert [value for name, value in commands if name == "PARAMETER stop"] == list(CHATML_STOPS)


def test_modelfile_refuses_a_prompt_it_cannot_quote(tmp_path):
    with pytest.raises(ValueError, match="three quotes"):
        write_modelfile("m.gguf", tmp_path, 'ends early """\nrest')


def test_a_pick_swapped_within_the_runtimes_noise_counts_as_agreeing():
    import numpy as np

    from slm_assets.export.parity import top1_agrees

    hf = np.array([5.0, 4.8, 1.0])
    assert top1_agrees(hf, np.array([5.1, 4.7, 1.0]))  # same pick
    assert top1_agrees(hf, np.array([4.9, 5.0, 1.0]))  # HF margin 0.2 <= largest difference 0.2
    # a swap needs the HF margin within the largest difference: here HF ranks the GGUF's pick 0.5 lower while no
    # logit moved more than 0.3
    assert not top1_agrees(np.array([5.0, 4.5, 1.0]), np.array([4.7, 4.8, 1.0]))
    # the noise counts only up to the quantisation's tolerance: logits that moved by whole units do not excuse a swap
    moved = np.array([3.0, 5.0, 1.0])
    assert top1_agrees(hf, moved) and not top1_agrees(hf, moved, max_noise=0.1)


CALIBRATION = ["A Type 2 connector carries up to 43 kW of three-phase AC.",
               "DC fast chargers use CCS2 in Europe.", "Load management shares a site's grid connection."]


def test_the_importance_matrix_covers_every_block_weight_by_its_gguf_name(tiny_smollm2_dir, tiny_smollm2_f16_gguf):
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slm_assets.export.imatrix import compute_importance

    model = AutoModelForCausalLM.from_pretrained(str(tiny_smollm2_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_smollm2_dir))
    batched = compute_importance(model, tokenizer, CALIBRATION, "llama", batch_size=3)
    one_by_one = compute_importance(model, tokenizer, CALIBRATION, "llama", batch_size=1)

    columns = {t.name: int(t.shape[0]) for t in GGUFReader(str(tiny_smollm2_f16_gguf)).tensors}  # ne[0] = columns
    n_layers = model.config.num_hidden_layers
    assert len(batched.columns) == 7 * n_layers  # q, k, v, output, gate, up, down per block
    assert all(columns[name] == len(values) for name, values in batched.columns.items())  # what the quantizer checks
    # one statistic per input: q, k and v read the same normalised hidden states; gate and up too
    block = {name.split(".")[2]: values for name, values in batched.columns.items() if name.startswith("blk.0.")}
    assert block["attn_q"] == block["attn_k"] == block["attn_v"] and block["ffn_gate"] == block["ffn_up"]
    # means over real tokens only: padding in a batch changes nothing
    assert batched.tokens == one_by_one.tokens == sum(len(tokenizer(t)["input_ids"]) for t in CALIBRATION)
    for name, values in batched.columns.items():
        assert values == pytest.approx(one_by_one.columns[name], rel=1e-4), name


def test_k_quants_are_quantised_with_the_importance_matrix_and_still_match(tiny_smollm2_dir, tmp_path):
    plain = export_ggufs(tiny_smollm2_dir, tmp_path / "plain", "tiny", ["q4_k_m", "q8_0"])
    weighted = export_ggufs(tiny_smollm2_dir, tmp_path / "weighted", "tiny", ["q4_k_m", "q8_0"],
                            calibration=CALIBRATION)

    assert weighted["q4_k_m"].importance_tokens > 0 and weighted["q4_k_m"].sha256 != plain["q4_k_m"].sha256
    # q8_0 rounds to the nearest step whatever the weights: same file, and it says it used none
    assert weighted["q8_0"].importance_tokens == 0 and weighted["q8_0"].sha256 == plain["q8_0"].sha256
    report = check_parity(tiny_smollm2_dir, weighted["q4_k_m"].path, EV_PROMPTS, max_new_tokens=6)
    assert report.tokens_match and report.max_logit_diff <= DEFAULT_TOLERANCES["q4_k_m"].max_logit_diff


def test_calibration_is_training_examples_as_the_served_model_reads_them(tiny_smollm2_dir):
    from slm_assets.export.imatrix import chat_calibration_texts

    rows = [{"prompt": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": f"Answer {i}."}]} for i in range(10)]

    texts = chat_calibration_texts(tiny_smollm2_dir, rows, 4)

    assert [t.count("Question") for t in texts] == [1, 1, 1, 1]
    assert [next(i for i in range(10) if f"Question {i}?" in t) for t in texts] == [0, 2, 5, 7]  # spread evenly
    assert all("<|im_start|>assistant\nAnswer" in t for t in texts)  # SmolLM2's ChatML, answer included
    assert chat_calibration_texts(tiny_smollm2_dir, rows, 0) == []
