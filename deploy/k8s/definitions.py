"""Code location for Kubernetes: slm_assets.definitions unchanged, plus where its steps and training run.

- every step is a Kubernetes Job (dagster-k8s `k8s_job_executor`, configured by executor.yaml; lora_adapter and
  distilled_model on a GPU node);
- SLM_TRAINER=k8s: training is a separate GPU pod through Dagster Pipes (K8sTrainerResource, trainer.yaml), and
  the two GPU steps keep the default step resources.

Loaded by the user-code deployment: `dagster api grpc --python-file deploy/k8s/definitions.py` (values.yaml).
"""

import os
from pathlib import Path

import dagster as dg
import yaml

from slm_assets.definitions import defs as project_defs

HERE = Path(__file__).resolve().parent


def _yaml(name: str) -> dict:
    return yaml.safe_load((HERE / name).read_text())


def cluster_definitions(trainer: str | None = None) -> dg.Definitions:
    from dagster_k8s import k8s_job_executor

    trainer = trainer or os.environ.get("SLM_TRAINER", "subprocess")
    base = project_defs()
    resources = dict(base.resources or {})
    executor_config = _yaml("executor.yaml")
    if trainer == "k8s":
        from slm_assets.resources.k8s_trainer import K8sTrainerResource

        resources["trainer"] = K8sTrainerResource(image=dg.EnvVar("SLM_TRAINER_IMAGE"), **_yaml("trainer.yaml"))
        executor_config.pop("per_step_k8s_config", None)  # the step only waits for the training pod
    elif trainer != "subprocess":
        raise ValueError(f"SLM_TRAINER={trainer!r}: expected subprocess or k8s")
    return dg.Definitions(
        assets=base.assets, asset_checks=base.asset_checks, jobs=base.jobs, schedules=base.schedules,
        sensors=base.sensors, loggers=base.loggers, metadata=base.metadata, resources=resources,
        executor=k8s_job_executor.configured(executor_config, name="k8s"),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return cluster_definitions()
