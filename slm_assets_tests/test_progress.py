"""Progress a person can watch: training's progress lines at a steady cadence, and a bar per asset."""

import io
import uuid

import dagster as dg
from typer.testing import CliRunner

from slm_assets.progress import RunProgress
from slm_assets.testing.clock import FakeClock
from slm_assets.train.pipes_logging import ProgressCadence
from slm_assets_tests.helpers import write_domain


def _lines(cadence, clock, steps, seconds_per_step):
    out = {}
    for step in steps:
        clock.now += seconds_per_step
        line = cadence.line(step, {"loss": 2.0 / step})
        if line:
            out[step] = line
    return out


def test_progress_every_5_percent_of_steps_when_steps_are_fast():
    clock = FakeClock()
    lines = _lines(ProgressCadence(100, clock=clock), clock, range(1, 101), 1.0)
    assert sorted(lines) == [1, *range(6, 97, 5), 100]
    assert lines[1] == "progress 1% (step 1/100), loss 2.0000"  # no pace yet: no estimate
    assert lines[51] == "progress 51% (step 51/100), loss 0.0392, 1.0 s/step, ETA 0m49s"
    assert lines[100].startswith("progress 100% (step 100/100)") and lines[100].endswith("ETA 0m00s")


def test_progress_every_30_seconds_when_steps_are_slow_and_resumed_runs_estimate_from_their_own_pace():
    clock = FakeClock()
    lines = _lines(ProgressCadence(400, clock=clock), clock, range(101, 111), 12.0)  # resumed at step 100
    assert sorted(lines) == [101, 104, 107, 110]
    assert lines[104] == "progress 26% (step 104/400), loss 0.0192, 12.0 s/step, ETA 59m12s"


def _two_asset_run(instance, run_id):
    @dg.asset
    def trained(context: dg.AssetExecutionContext):
        context.log.info("progress 50% (step 1/2), loss 1.0000, 3.0 s/step, ETA 0m03s")

    @dg.asset(deps=[trained])
    def broken():
        raise RuntimeError("boom")

    job = dg.Definitions(assets=[trained, broken]).get_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)


def test_a_bar_per_asset_fed_by_the_runs_events():
    stream, run_id = io.StringIO(), str(uuid.uuid4())
    with dg.instance_for_test() as instance:
        with RunProgress(instance, run_id, 2, stream=stream, poll_s=0.05) as progress:
            result = _two_asset_run(instance, run_id)
        assert not result.success
    assert progress.outcomes == {"trained": "done", "broken": "failed"}
    text = stream.getvalue()
    assert "[1/2] trained" in text and "[2/2] broken" in text
    assert "(step 1/2), loss 1.0000" in text and "100%" in text and "failed" in text


def test_quiet_progress_draws_nothing():
    stream, run_id = io.StringIO(), str(uuid.uuid4())
    with dg.instance_for_test() as instance:
        with RunProgress(instance, run_id, 2, stream=stream, disable=True) as progress:
            _two_asset_run(instance, run_id)
    assert stream.getvalue() == "" and progress.outcomes == {}


def test_cli_materialize_shows_a_bar_per_asset_and_quiet_does_not(tiny_domain, tmp_path, monkeypatch):
    from slm_assets.cli import app

    monkeypatch.setenv("SLM_DOMAINS_DIR", str(tiny_domain["domains_dir"]))
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tiny_domain["warehouse"]))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    write_domain(tiny_domain["domains_dir"], "tiny", [str(tiny_domain["corpus"])])
    runner = CliRunner()
    shown = runner.invoke(app, ["materialize", "--domain", "tiny", "--select", "raw_docs"])
    assert shown.exit_code == 0, shown.output
    assert "[1/1] raw_docs" in shown.output and "100%" in shown.output
    quiet = runner.invoke(app, ["materialize", "--domain", "tiny", "--select", "raw_docs", "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert "raw_docs" in quiet.output  # the check result line
    assert "%|" not in quiet.output and "STEP_START" not in quiet.output


def test_training_sink_logs_progress_and_evaluations_to_dagster_and_every_step_to_mlflow(tmp_path):
    """The sink lora_job and distill_job use, with a real MLflow store and a recorder in place of Pipes' logger."""
    import logging

    from mlflow.tracking import MlflowClient

    from slm_assets.train.config import TrainConfig
    from slm_assets.train.pipes_logging import pipes_training_logger

    class Pipes:
        log = logging.getLogger("test.pipes")

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("t", artifact_location=str(tmp_path / "a")))
    extras = {"tracking_uri": uri, "mlflow_run_id": run.info.run_id, "base_model": "tiny", "dataset_hash": "abc"}
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    Pipes.log.addHandler(handler)
    Pipes.log.setLevel(logging.INFO)
    _, sink = pipes_training_logger(Pipes, extras, "train", TrainConfig(max_steps=40))
    for step in range(1, 41):
        sink(step, {"loss": 1.0, "learning_rate": 1e-4})
        if step == 20:
            sink(step, {"eval_loss": 0.5})
    progress = [line for line in records if line.startswith("progress ")]
    steps = [int(line.split("(step ")[1].split("/")[0]) for line in progress]
    # every 5 % = 2 steps (a 30 s stall on a busy machine may add a line, never leave a longer gap)
    assert steps[0] == 1 and steps[-1] == 40 and all(0 < b - a <= 2 for a, b in zip(steps, steps[1:], strict=False))
    assert 21 <= len(steps) < 40
    assert any(line.startswith("step 20: ") and "eval_loss" in line for line in records)
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 40
    assert client.get_run(run.info.run_id).data.params["dataset_hash"] == "abc"
