"""DPO after SFT: the SFT model's own bad answers become the rejected side, and TRL's DPOTrainer moves the adapter."""

import pytest

from slm_assets.text import ABSTAIN
from slm_assets.train.config import DpoConfig
from slm_assets.train.dpo import preference_pairs, rejection_reason
from slm_assets_tests.train.helpers import write_chat_split

OPEN = {"question": "What does a type B RCD detect?", "mode": "open_book",
        "prompt": [{"role": "user", "content": "[1] A type B RCD detects smooth DC residual currents.\n\n"
                                               "Question: What does a type B RCD detect?"}],
        "completion": [{"role": "assistant", "content": "Smooth DC residual currents."}]}
UNANSWERABLE = {**OPEN, "mode": "unanswerable", "completion": [{"role": "assistant", "content": ABSTAIN}]}


def test_bad_answers_are_named_and_good_ones_pass():
    assert rejection_reason(OPEN, "Smooth DC residual currents.", 0.6) is None
    assert rejection_reason(OPEN, "A type B RCD detects what a type B RCD does detect.", 0.6) == "echo"
    assert rejection_reason(OPEN, "Bananas grow on tall green plants.", 0.6) == "unsupported"
    assert rejection_reason(OPEN, ABSTAIN, 0.6) == "abstained_on_answerable"
    assert rejection_reason(UNANSWERABLE, "Smooth DC residual currents.", 0.6) == "answered_unanswerable"
    assert rejection_reason(UNANSWERABLE, ABSTAIN, 0.6) is None


def test_preference_pairs_prefer_the_reference_over_the_models_own_bad_answer():
    pairs, reasons = preference_pairs([OPEN, OPEN, UNANSWERABLE], ["Bananas grow on tall green plants.",
                                                                   "Smooth DC residual currents.", "DC currents."],
                                      DpoConfig())
    assert reasons == {"unsupported": 1, "answered_unanswerable": 1} and len(pairs) == 2
    assert pairs[0]["chosen"] == OPEN["completion"] and pairs[0]["rejected"][0]["content"].startswith("Bananas")
    assert pairs[1]["chosen"][0]["content"] == ABSTAIN


@pytest.mark.slow
def test_dpo_moves_the_sft_adapter_on_a_tiny_model(tiny_smollm2_dir, tmp_path):
    import json

    from safetensors.torch import load_file

    from slm_assets.train.config import train_config_from
    from slm_assets.train.dpo import train_dpo
    from slm_assets.train.lora import train_lora

    data = tmp_path / "sft"
    write_chat_split(data, 16)
    config = train_config_from({"preset": "smoke", "max_steps": 2, "eval_steps": 2,
                                "dpo": {"enabled": True, "max_steps": 2, "per_device_batch_size": 2,
                                        "max_prompts": 8, "max_new_tokens": 8}})
    sft = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, tmp_path / "sft_out", config)
    rows = [{**json.loads(line), "question": f"Question {i}?", "mode": "closed_book"}
            for i, line in enumerate((data / "train.jsonl").read_text().splitlines())]
    summary = train_dpo(str(tiny_smollm2_dir), tmp_path / "cache", rows, tmp_path / "sft_out" / "adapter",
                        tmp_path / "dpo", config)
    assert summary.pairs >= 2 and summary.steps == 2 and summary.loss_first is not None
    before = load_file(f"{sft.adapter_dir}/adapter_model.safetensors")
    after = load_file(f"{summary.adapter_dir}/adapter_model.safetensors")
    assert summary.adapter_dir.endswith("dpo/adapter")
    assert any(not (before[k] == after[k]).all() for k in before)
