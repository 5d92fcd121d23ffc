"""A training process killed with SIGKILL resumes from its last checkpoint and finishes the planned steps."""

import json
import os
import signal
import subprocess
import sys
import time

from slm_assets_tests.train.test_train_units import tiny_llama_dir  # noqa: F401 (fixture)


def _prepare(tiny_llama_dir, bundled_model_dir, tmp_path):  # noqa: F811
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model_dir = tmp_path / "model"
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    config = AutoConfig.from_pretrained(tiny_llama_dir)
    config.vocab_size = len(tokenizer)
    AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = tmp_path / "sft"
    data.mkdir()
    rows = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": f"Answer number {i}."}]} for i in range(32)]
    for split in ("train", "val"):
        (data / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return model_dir, data


def test_killed_training_resumes_from_checkpoint(tiny_llama_dir, bundled_model_dir, tmp_path):  # noqa: F811
    model_dir, data = _prepare(tiny_llama_dir, bundled_model_dir, tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "slm_assets_tests.train.resume_worker", str(model_dir), str(data), str(out)]
    worker = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((out / "checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert worker.poll() is None, "the worker ended before its first checkpoint"
        time.sleep(0.1)
    time.sleep(0.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    killed_at = max(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*"))
    assert 0 < killed_at < 12

    subprocess.run(command, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] and summary["resumed_from"].endswith(tuple(f"checkpoint-{n}" for n in range(2, 12, 2)))
    assert summary["steps"] == 12
    assert (out / "adapter" / "adapter_model.safetensors").exists()
