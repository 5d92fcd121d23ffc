"""models.py: loading a base model with its adapter merged, in the dtype asked."""

import torch

from slm_assets.models import load_tuned_model
from slm_assets_tests.evaluate.warehouse import benchmark_warehouse


def test_load_tuned_model_merges_in_fp32_then_casts(tmp_path, tiny_smollm2_dir):
    root = tmp_path / "warehouse"
    benchmark_warehouse(root, tiny_smollm2_dir)
    adapter = root / "artifacts" / "ev" / "lora" / "adapter"
    fp32 = load_tuned_model(str(tiny_smollm2_dir), tmp_path / "models", adapter, device="cpu")
    bf16 = load_tuned_model(str(tiny_smollm2_dir), tmp_path / "models", adapter, device="cpu", dtype="bfloat16")

    assert {p.dtype for p in fp32.parameters()} == {torch.float32}
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    for (name, merged), (_, cast) in zip(fp32.state_dict().items(), bf16.state_dict().items(), strict=True):
        assert torch.equal(merged.to(torch.bfloat16), cast), name
