"""Recovery after `kill -9`: runs the chaos test (slm_assets_tests/test_chaos.py) and records where each
kill landed, how soon the killed run's process group was empty and how long the recovering run took.

    .venv/bin/python bench/chaos.py

Writes bench/results/chaos.json (with the load average before and after: the machine is shared)
and prints a table. Not part of the test suite; the test itself asserts behaviour, not times.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = RESULTS / "chaos.json"
    report.unlink(missing_ok=True)
    load_before = os.getloadavg()
    env = {**os.environ, "SLM_CHAOS_REPORT": str(report), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "slm_assets_tests/test_chaos.py"], cwd=ROOT,
                   env=env, check=True)
    result = json.loads(report.read_text())
    result.update(measured_at=datetime.now(UTC).isoformat(timespec="seconds"), cpus=os.cpu_count(),
                  machine=platform.platform(), load_average_before=load_before, load_average_after=os.getloadavg())
    report.write_text(json.dumps(result, indent=2))
    print("| asset | killed | recovered | killed run's processes gone after | recovering run | rows lost | orphans |")
    print("|---|---|---|---|---|---|---|")
    for kill in result["kills"]:
        print(f"| {kill['asset']} | {kill['killed_while']} | yes | "
              f"{kill['group_empty_after_s']} s | {kill['recovery_run_s']} s | 0 | 0 |")
    print(f"uninterrupted run: {result['uninterrupted_run_s']} s; load average {load_before[0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
