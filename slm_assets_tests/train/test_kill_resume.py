"""A training process killed with SIGKILL resumes from its last checkpoint and finishes the planned steps."""

import json
import os
import signal
import subprocess
import sys
import time

from slm_assets_tests.train.helpers import write_chat_split


def test_killed_training_resumes_from_checkpoint(tiny_smollm2_dir, tmp_path):
    data = tmp_path / "sft"
    write_chat_split(data, 32)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "slm_assets_tests.train.resume_worker", str(tiny_smollm2_dir), str(data),
               str(out)]
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
    assert json.loads((out / "checkpoints" / "run.json").read_text())["finished"] is False
    eval_before = json.loads((out / "checkpoints" / "eval_before.json").read_text())["eval_loss"]

    subprocess.run(command, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] and summary["resumed_from"].endswith(tuple(f"checkpoint-{n}" for n in range(2, 12, 2)))
    assert summary["steps"] == 12
    # the validation curve starts at the killed run's step-0 loss, so the loss-fell check compares whole curves
    assert summary["eval_loss_first"] == eval_before
    assert summary["eval_loss_last"] < eval_before
    assert json.loads((out / "checkpoints" / "run.json").read_text())["finished"] is True
    assert (out / "adapter" / "adapter_model.safetensors").exists()
