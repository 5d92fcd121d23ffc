"""TrackingResource.log_run on MLflow with SQLite: the one way an evaluation or a study logs a finished run."""

import pytest

from slm_assets.resources.mlflow_tracking import TrackingResource, dagster_run_tags
from slm_assets.versioning import code_version


@pytest.fixture
def tracking(tmp_path):
    return TrackingResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifacts_dir=str(tmp_path / "mlruns"))


def test_a_logged_run_holds_its_metrics_by_step_its_artifacts_and_ends_finished(tracking, tmp_path):
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "report.json").write_text("{}")
    (report / "plots" / "metrics.png").write_bytes(b"png")
    table = tmp_path / "sweep.json"
    table.write_text("[]")
    tags = dagster_run_tags("abcdef12-run", "ev_charging", **{"dagster.asset": "benchmark_report"})

    run_id = tracking.log_run("ev_charging", "benchmark_report-abcdef12", tags,
                              [("rouge_l.n100", 0.25, 10), ("rouge_l.n100", 0.31, 30), ("bleu", 0.1, 0)],
                              [(report, "benchmark"), (table, None)])

    client = tracking.client()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "benchmark_report-abcdef12"
    assert {k: run.data.tags[k] for k in tags} == {"dagster.run_id": "abcdef12-run", "dagster.partition": "ev_charging",
                                                   "dagster.asset": "benchmark_report", "code_version": code_version()}
    history = client.get_metric_history(run_id, "rouge_l.n100")
    assert sorted((m.step, m.value) for m in history) == [(10, 0.25), (30, 0.31)]
    assert run.data.metrics["bleu"] == 0.1
    root = {f.path for f in client.list_artifacts(run_id)}
    assert root == {"benchmark", "sweep.json"}
    assert {f.path for f in client.list_artifacts(run_id, "benchmark")} == {"benchmark/report.json", "benchmark/plots"}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "slm_assets/ev_charging"


def test_a_run_whose_logging_fails_ends_failed_and_the_error_reaches_the_caller(tracking, tmp_path):
    missing = tmp_path / "no_such_report.json"
    with pytest.raises(Exception, match="no_such_report"):
        tracking.log_run("ev_charging", "broken", dagster_run_tags("r1", "ev_charging"), [("bleu", 0.1, 0)],
                         [(missing, None)])
    client = tracking.client()
    experiment = client.get_experiment_by_name("slm_assets/ev_charging")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "broken" and run.info.status == "FAILED"
