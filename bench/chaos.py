"""Recovery after `kill -9`: runs the chaos tests and records where each kill landed, how soon the killed run's
processes were gone and how long the recovering run took.

    .venv/bin/python bench/chaos.py [data] [training]

`data` runs slm_assets_tests/test_chaos.py (raw_docs, synthetic_qa_5000) into bench/results/chaos.json,
`training` runs slm_assets_tests/test_chaos_training.py (lora_adapter, distilled_model, benchmark_report,
gguf_export) into bench/results/chaos_training.json; both without an argument. Each JSON gets the time, the machine
and the load average before and after (the machine is shared); a table of every recorded kill is printed.
Not part of the test suite; the tests themselves assert behaviour, not times.
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
SUITES = {"data": ("slm_assets_tests/test_chaos.py", "chaos.json"),
          "training": ("slm_assets_tests/test_chaos_training.py", "chaos_training.json")}


def run_suite(test_file: str, report: Path) -> None:
    report.unlink(missing_ok=True)
    load_before = os.getloadavg()
    env = {**os.environ, "SLM_CHAOS_REPORT": str(report), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", test_file], cwd=ROOT, env=env, check=True)
    result = json.loads(report.read_text())
    result.update(measured_at=datetime.now(UTC).isoformat(timespec="seconds"), cpus=os.cpu_count(),
                  machine=platform.platform(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                  load_average_before=load_before, load_average_after=os.getloadavg())
    report.write_text(json.dumps(result, indent=2))


def where_killed(kill: dict) -> str:
    """The kill's place as the test recorded it (older records give the seconds after STEP_START only)."""
    place = kill.get("killed_while") or f"{kill['killed_after_step_start_s']} s after STEP_START"
    return f"{kill.get('killed', 'slm-assets materialize')}: {place}"


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(SUITES):
        test_file, report = SUITES[name]
        run_suite(test_file, RESULTS / report)
    print("| asset | where it was killed | recovered | recovery time | rows lost | orphans |")
    print("|---|---|---|---|---|---|")
    for _test_file, report in SUITES.values():
        if not (RESULTS / report).exists():
            continue
        result = json.loads((RESULTS / report).read_text())
        for kill in result["kills"]:
            print(f"| {kill['asset']} | {where_killed(kill)} | {'yes' if kill['recovered'] else 'NO'} | "
                  f"{kill['recovery_run_s']} s | {kill.get('rows_lost', 0)} | {kill['orphans']} |")
        print(f"{report}: measured {result['measured_at']}, load average {result['load_average_before'][0]:.1f} "
              f"before, {result['load_average_after'][0]:.1f} after, {result['cpus']} CPUs")


if __name__ == "__main__":
    main()
