"""Dagster Pipes under a multi-process launcher (torchrun, as for multi-GPU training), on CPU with 2 ranks.

Every rank inherits the Pipes environment and sees the same extras; a job that reports from every rank gives
Dagster one materialisation per rank, which fails the step. Reporting from rank 0 only works. (deploy/README.md:
the training jobs need that guard before `torchrun --nproc_per_node N` is used for them.)
"""

import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest

JOB = '''
import os
from dagster_pipes import open_dagster_pipes

rank = int(os.environ["RANK"])
if os.environ.get("ONLY_RANK_ZERO") == "1" and rank != 0:
    pass  # a worker rank would train here, and report nothing
else:
    with open_dagster_pipes() as pipes:
        pipes.report_asset_materialization(metadata={
            "rank": rank, "world_size": int(os.environ["WORLD_SIZE"]), "dataset_dir": pipes.extras["dataset_dir"]})
'''


def _launch(tmp_path: Path, only_rank_zero: bool) -> dg.ExecuteInProcessResult:
    (tmp_path / "rank_job.py").write_text(JOB)
    torchrun = Path(sys.executable).with_name("torchrun")

    @dg.asset
    def lora_adapter(context: dg.AssetExecutionContext):
        client = dg.PipesSubprocessClient(env={"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1",
                                               "ONLY_RANK_ZERO": "1" if only_rank_zero else "0"})
        command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "rank_job"]
        return client.run(command=command, context=context,
                          extras={"dataset_dir": "/data/sft"}).get_materialize_result()

    return dg.materialize([lora_adapter], raise_on_error=False)


@pytest.fixture(autouse=True)
def _needs_torchrun():
    if not Path(sys.executable).with_name("torchrun").exists() and not shutil.which("torchrun"):
        pytest.skip("torchrun (from torch) is not installed")


def test_reporting_from_every_rank_fails_the_step(tmp_path):
    result = _launch(tmp_path, only_rank_zero=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "Multiple materialize results" in str(failure.event_specific_data.error.to_string())


def test_reporting_from_rank_zero_passes_the_extras_and_one_materialisation(tmp_path):
    result = _launch(tmp_path, only_rank_zero=True)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
    assert metadata == {"rank": 0, "world_size": 2, "dataset_dir": "/data/sft"}
