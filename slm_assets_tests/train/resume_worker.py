"""Run by test_kill_resume in a separate process: trains a tiny model, pausing each step so a kill lands midway."""

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from slm_assets.train.config import train_config_from
from slm_assets.train.lora import train_lora


def main(model_dir: str, data_dir: str, out_dir: str) -> None:
    config = train_config_from({"preset": "smoke", "max_steps": 12, "eval_steps": 2})
    summary = train_lora(model_dir, Path(out_dir) / "cache", Path(data_dir), Path(out_dir), config,
                         sink=lambda step, metrics: time.sleep(0.3))
    (Path(out_dir) / "summary.json").write_text(json.dumps(asdict(summary), default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
