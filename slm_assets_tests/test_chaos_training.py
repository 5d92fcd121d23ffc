"""Chaos after the data: `kill -9` inside lora_adapter, distilled_model, benchmark_report and gguf_export of a
smoke-sized domain on a tiny random base model, then the same command again.

Each kill lands at a point the test waits for, whatever the machine's speed: lora_adapter once its training child
has written a complete checkpoint (the command killed once, the Pipes training child alone once), distilled_model
once its training child holds its run folder, benchmark_report once it scores (its run folder made, the models
loaded), gguf_export while llama.cpp's converter writes a GGUF. After each kill nothing the killed run started lives
on; the next command says the dead run was marked failed, completes and leaves no run STARTED and no pool slot held;
training resumes from the checkpoint and its loss curve continues the killed one; no warehouse row is lost; no file
under a final name is half written; the registry ends with one model version, pointing at the completed bundle.
Set SLM_CHAOS_REPORT=path.json to record where each kill landed and how long recovery took.
"""

import json
import os
import signal
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from slm_assets.artifacts import latest_run_dir, run_dirs
from slm_assets.processes import LOCK_NAME, process_alive
from slm_assets.train.checkpoints import read_run
from slm_assets_tests.chaos_runs import (
    DOMAIN,
    OUR_PROCESS_LIMIT_S,
    Workspace,
    assert_gone,
    descendants,
    kill_inside,
    recovery_line,
    run_of_process,
    wait_until,
)
from slm_assets_tests.helpers import QUICK_LATENCY, registered_versions, tiny_corpus

pytestmark = pytest.mark.slow
MAX_STEPS = 30  # a checkpoint every 2 steps: the tiny model trains a step in tens of ms, the kill lands with steps left
SETUP = "raw_docs clean_chunks synthetic_qa_5000 sft_dataset"
LORA_CHILD = "slm_assets.train.lora_job"


def training_workspace(root: Path, models_cache: Path, corpus: Path, base_model: Path) -> Workspace:
    return Workspace(root, models_cache, [str(corpus)], base_model=str(base_model), synth={"n_pairs": 60},
                     teacher={"provider": "offline"},
                     train={"preset": "smoke", "max_steps": MAX_STEPS, "eval_steps": 2},
                     benchmark={"max_questions": 6, "max_new_tokens": 16, "batch_size": 8, "min_improvement": -1.0,
                                "max_echo_rate": 1.0, **QUICK_LATENCY, "latency_gguf": False},
                     # q8_0 only: one quantisation is enough to kill the converter in; every type is tested in export/
                     export={"quantizations": ["q8_0"]})


def complete_checkpoints(lora: Path) -> set[Path]:
    """Checkpoints the Trainer finished writing (trainer_state.json is its last file), in any run folder."""
    return {state.parent for state in lora.glob("*/checkpoints/checkpoint-*/trainer_state.json")}


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def warehouse_counts(workspace: Workspace) -> dict[str, int]:
    with duckdb.connect(str(workspace.warehouse / "slm.duckdb"), read_only=True) as con:
        tables = [row[0] for row in con.execute("select table_name from information_schema.tables "
                                                "where table_type = 'BASE TABLE' order by 1").fetchall()]
        return {table: con.execute(f'select count(*) from "{table}"').fetchone()[0] for table in tables}


def latest_metadata(workspace: Workspace, asset: str) -> dict:
    with workspace.instance() as instance:
        record = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {key: value.value for key, value in record.asset_materialization.metadata.items()}


def recover(workspace: Workspace, select: str, killed: dict, counts: dict, report: list) -> str:
    """The same command again: it names the dead run (unless the run ended itself), completes, leaves no run STARTED,
    no pool slot held and every warehouse row in place; the kill's line goes into `report`."""
    output, seconds = workspace.run(select)
    if killed["killed"] == "slm-assets materialize":
        recovery_line(output, killed["run_id"])
    with workspace.instance() as instance:
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        assert instance.get_run_by_id(killed["run_id"]).status == dg.DagsterRunStatus.FAILURE
    after = warehouse_counts(workspace)
    lost = sum(max(0, n - after.get(table, 0)) for table, n in counts.items())
    assert lost == 0, (counts, after)
    report.append({**killed, "recovered": True, "recovery_run_s": round(seconds, 1), "rows_lost": lost, "orphans": 0})
    return output


def assert_resumed_from(workspace: Workspace, checkpoint: Path) -> dict:
    """lora_adapter's last materialisation trained in the killed run's folder from `checkpoint` on: its loss curve
    holds the steps after the checkpoint only, each once."""
    metadata = latest_metadata(workspace, "lora_adapter")
    resumed = Path(metadata["resumed_from"])
    assert (resumed.name, resumed.parent.parent.name) == (checkpoint.name, checkpoint.parent.parent.name), metadata
    summary = json.loads((Path(metadata["out_dir"]) / "summary.json").read_text())
    trained = [entry["step"] for entry in summary["history"] if "loss" in entry]
    assert trained == list(range(step_of(checkpoint) + 1, metadata["steps"] + 1)), trained
    return metadata


def kill_lora_command(workspace: Workspace) -> tuple[dict, Path]:
    lora = workspace.artifacts("lora")
    killed = kill_inside(workspace, "lora_adapter", "lora_adapter", lambda _: bool(complete_checkpoints(lora)),
                         "training, after its first checkpoint")
    checkpoint = max(complete_checkpoints(lora), key=step_of)
    folder = checkpoint.parent.parent
    assert read_run(folder / "checkpoints")["finished"] is False and not (folder / "adapter").exists()
    assert step_of(checkpoint) < MAX_STEPS
    return {**killed, "killed_while": f"training child running, after {checkpoint.name} of {MAX_STEPS} steps"}, checkpoint


def kill_lora_child(workspace: Workspace) -> tuple[dict, Path]:
    """SIGKILL the Pipes training child alone, once it has written a new checkpoint: the command must end promptly,
    failed, saying the training process was killed."""
    lora = workspace.artifacts("lora")
    before = complete_checkpoints(lora)
    process = workspace.start("lora_adapter")
    try:
        wait_until("a new checkpoint", lambda _: bool(complete_checkpoints(lora) - before), process)
        [child] = [pid for pid, command in descendants(process.pid).items() if LORA_CHILD in command]
        below = {child: LORA_CHILD, **descendants(child)}
        os.kill(child, signal.SIGKILL)
        killed_at = time.monotonic()
        output, _ = process.communicate(timeout=120)
        ended_after_s = time.monotonic() - killed_at
    finally:
        if process.poll() is None:  # it hung: the test fails, without leaving the command behind
            process.kill()
    assert process.returncode == 1, output[-3000:]
    assert "training process" in output and "killed by SIGKILL" in output, output[-3000:]
    assert_gone(below, OUR_PROCESS_LIMIT_S)
    checkpoint = max(complete_checkpoints(lora) - before, key=step_of)
    folder = checkpoint.parent.parent
    assert not process_alive(json.loads((folder / LOCK_NAME).read_text())["pid"])  # left behind, stale
    with workspace.instance() as instance:
        run_id = run_of_process(instance, process.pid)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    return {"asset": "lora_adapter", "killed": "training child (Pipes subprocess)", "run_id": run_id,
            "killed_while": f"training, after {checkpoint.name} of {MAX_STEPS} steps",
            "parent_run_failed_after_s": round(ended_after_s, 1)}, checkpoint


def kill_export(workspace: Workspace) -> tuple[dict, Path]:
    export = workspace.artifacts("export")
    killed = kill_inside(workspace, "gguf_export", "gguf_export", lambda process: any(
        "slm_assets.export.converter" in command for command in descendants(process.pid).values()),
                         "llama.cpp's converter writing a GGUF")
    [bundle] = run_dirs(export)
    assert not list(bundle.glob("*.gguf")), "a GGUF under its final name from a killed conversion"
    return killed, bundle


def test_kill_training_evaluation_and_export_then_run_again(tmp_path, models_cache):
    from slm_assets.testing.tiny_models import CASES, build_tiny_model

    started = time.monotonic()
    corpus = tiny_corpus(tmp_path / "corpus", n_html=5, n_pdf=0)
    workspace = training_workspace(tmp_path / "chaos", models_cache, corpus,
                                   build_tiny_model(CASES[0], tmp_path / "base_model"))
    workspace.run(SETUP)
    counts = warehouse_counts(workspace)
    report = []

    killed, checkpoint = kill_lora_command(workspace)
    recover(workspace, "lora_adapter", killed, counts, report)
    assert_resumed_from(workspace, checkpoint)

    killed, checkpoint = kill_lora_child(workspace)
    recover(workspace, "lora_adapter", killed, counts, report)
    assert_resumed_from(workspace, checkpoint)

    distilled = workspace.artifacts("distilled")
    killed = kill_inside(workspace, "distilled_model", "distilled_model",
                         lambda _: bool(list(distilled.glob(f"*/{LOCK_NAME}"))), "distillation child running")
    [killed_folder] = run_dirs(distilled)
    recover(workspace, "distilled_model", killed, counts, report)
    assert not (killed_folder / "adapter").exists() and latest_run_dir(distilled) != killed_folder
    assert (latest_run_dir(distilled) / "adapter").is_dir()

    benchmark = workspace.artifacts("benchmark")
    killed = kill_inside(workspace, "benchmark_report", "benchmark_report", lambda _: bool(run_dirs(benchmark)),
                         "scoring (run folder made, models loaded)")
    [killed_folder] = run_dirs(benchmark)
    recover(workspace, "benchmark_report", killed, counts, report)
    assert not (killed_folder / "report.json").exists(), "the killed run finished its report before the kill"
    assert json.loads((latest_run_dir(benchmark) / "report.json").read_text())["best_model"]
    assert not [p.name for p in latest_run_dir(benchmark).iterdir() if ".tmp" in p.name]

    killed, killed_bundle = kill_export(workspace)
    output = recover(workspace, "gguf_export", killed, counts, report)
    assert "check gguf_export.gguf_parity: passed" in output
    metadata = latest_metadata(workspace, "gguf_export")
    bundle = Path(metadata["bundle"])
    assert bundle != killed_bundle and not [p.name for p in bundle.iterdir() if ".tmp" in p.name]
    [version] = registered_versions(workspace.warehouse, metadata["registered_model"])
    assert (str(version.version), Path(version.tags["bundle"])) == (str(metadata["version"]), bundle)
    assert_ggufs_whole(metadata["gguf"])

    with workspace.instance() as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
    assert statuses == ["FAILURE"] * 5 + ["SUCCESS"] * 6
    if os.environ.get("SLM_CHAOS_REPORT"):
        Path(os.environ["SLM_CHAOS_REPORT"]).write_text(json.dumps(
            {"test_s": round(time.monotonic() - started, 1), "domain": DOMAIN, "base_model": CASES[0].name,
             "lora_max_steps": MAX_STEPS, "kills": report}, indent=2))


def assert_ggufs_whole(ggufs: dict) -> None:
    """Every exported GGUF has the size and sha256 the export recorded and reads as a GGUF to its last tensor."""
    import gguf

    from slm_assets.export.gguf import sha256_file

    for qtype, info in ggufs.items():
        path = Path(info["path"])
        assert (path.stat().st_size, sha256_file(path)) == (info["bytes"], info["sha256"]), qtype
        reader = gguf.GGUFReader(path)
        assert reader.tensors and reader.tensors[-1].data.nbytes > 0, qtype
