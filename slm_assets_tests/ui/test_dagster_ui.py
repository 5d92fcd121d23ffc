"""The Dagster UI, for real: `dagster dev` (webserver and daemon) on a tiny domain, driven by headless Chromium.

The graph shows the eight assets, a run of `build_domain_model` for the domain's partition is launched from the
job's "Materialize all" dialog, and the run page shows it succeed. Minutes on 2 cores (the smoke presets).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from slm_assets.settings import PROJECT_ROOT
from slm_assets_tests.helpers import tiny_corpus, write_domain
from slm_assets_tests.ui.dagster_dev import default_signals, free_port, http_ok, stop, tail, wait_until

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ASSETS = ["raw_docs", "clean_chunks", "synthetic_qa_5000", "sft_dataset", "lora_adapter", "distilled_model",
          "benchmark_report", "gguf_export"]
LOCATION = "slm_assets.definitions"  # the module name in workspace.yaml
DOMAIN = "tiny"
SERVER_START_S, PARTITION_S = 240, 240
# the smoke run takes 3-6 min on 2 idle cores; a machine shared with other work needs more
RUN_S = float(os.environ.get("SLM_UI_RUN_TIMEOUT_S", "1500"))


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, f"{path}: not a PNG screenshot"


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE})
    return "\n".join(str(r.dagster_event.event_specific_data)[:1500] for r in records if r.dagster_event)


def test_dagster_ui_shows_the_graph_and_materialises_a_domain(tmp_path, models_cache):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import expect, sync_playwright

    corpus = tiny_corpus(tmp_path / "corpus", n_html=5, n_pdf=0)
    write_domain(tmp_path / "domains", DOMAIN, [str(corpus)], synth={"n_pairs": 60}, teacher={"provider": "offline"},
                 benchmark={"max_questions": 6, "max_new_tokens": 16, "batch_size": 8, "min_improvement": -1.0,
                            "max_echo_rate": 1.0})
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in {"GROQ_API_KEY", "SLM_MLFLOW_TRACKING_URI"}}
    env.update(DAGSTER_HOME=str(home), SLM_DOMAINS_DIR=str(tmp_path / "domains"),
               SLM_WAREHOUSE_DIR=str(tmp_path / "warehouse"), SLM_MODELS_CACHE=str(models_cache),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", SLM_REFRESH_CRON="")  # no weekly run mid-test
    port, log = free_port(), tmp_path / "dagster_dev.log"
    base = f"http://127.0.0.1:{port}"
    dagster = Path(sys.executable).with_name("dagster")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=default_signals,
        )
    shots = {name: tmp_path / f"{name}.png" for name in ("graph", "launch", "run")}
    try:
        wait_until("webserver", lambda: http_ok(f"{base}/server_info"), SERVER_START_S, server, log)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # the daemon's domain_partitions_sensor (RUNNING by default) adds one partition per domain YAML
            wait_until("`tiny` partition from domain_partitions_sensor",
                        lambda: DOMAIN in instance.get_dynamic_partitions("domain"), PARTITION_S, server, log)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                # the one-time "join the community" dialog would cover the page
                context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
                page = context.new_page()
                run_id = _launch_from_ui(page, expect, base, shots, server, log, instance)
                _wait_for_success(page, expect, base, run_id, shots["run"], server, log, instance)
                browser.close()
    finally:
        left = stop(server, log)
    assert not left, "processes left after stopping dagster dev:\n" + "\n".join(left)
    for path in shots.values():
        _assert_png(path)
    keep = os.environ.get("SLM_UI_SCREENSHOTS_DIR")  # pytest removes old tmp dirs: CI can keep the pictures here
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for path in shots.values():
            shutil.copy(path, Path(keep) / path.name)
    print("screenshots:", *shots.values())


def _launch_from_ui(page, expect, base: str, shots: dict, server, log: Path, instance: dg.DagsterInstance) -> str:
    page.goto(f"{base}/asset-groups")
    expect(page.get_by_text("Materialize all")).to_be_visible(timeout=SERVER_START_S * 1000)
    page.keyboard.press("Alt+e")  # "Expand all groups": groups start collapsed in the global lineage
    for name in ASSETS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(shots["graph"]))

    page.goto(f"{base}/locations/{LOCATION}/jobs/build_domain_model")
    page.get_by_text("Materialize all").click(timeout=60_000)
    dialog = page.locator(".dagster-dialog")
    expect(dialog.get_by_text("Launch runs to materialize")).to_be_visible(timeout=30_000)
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=re.compile(rf"^{DOMAIN}")).click()
    dialog.get_by_text("Launch runs to materialize").click()  # closes the partition picker
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled(timeout=30_000)
    page.screenshot(path=str(shots["launch"]))
    runs = dg.RunsFilter(job_name="build_domain_model", tags={"dagster/partition": DOMAIN})
    before = {r.run_id for r in instance.get_runs(runs)}
    launch.click()

    def launched_run():
        return next((r.run_id for r in instance.get_runs(runs) if r.run_id not in before), None)

    return wait_until("run launched from the UI", launched_run, 60, server, log, every_s=1)


def _wait_for_success(page, expect, base: str, run_id: str, shot: Path, server, log: Path,
                      instance: dg.DagsterInstance) -> None:
    # the live run page (log stream, Gantt chart) costs a CPU core in Chromium: wait with a blank page
    page.goto("about:blank")

    def finished():
        run = instance.get_run_by_id(run_id)
        return run.status if run.is_finished else None

    status = wait_until(f"end of run {run_id}", finished, RUN_S, server, log, every_s=10)
    if status != dg.DagsterRunStatus.SUCCESS:
        pytest.fail(f"run {run_id} ended {status.value}:\n{_failure_messages(instance, run_id)}\n{tail(log)}")
    page.goto(f"{base}/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(f"partition: {DOMAIN}").first).to_be_visible()
    expect(page.get_by_text("Errored (0)")).to_be_visible()
    expect(page.get_by_text(re.compile("Loading run logs"))).to_have_count(0, timeout=60_000)
    page.screenshot(path=str(shot))
