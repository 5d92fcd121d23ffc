"""deploy/k8s without a cluster: the code location loads, its executor config passes dagster-k8s's schema, and the
Helm values agree with dagster.yaml and with each other."""

import importlib.util

import dagster as dg
import pytest
import yaml

from slm_assets.settings import PROJECT_ROOT

K8S = PROJECT_ROOT / "deploy" / "k8s"
ASSETS = {"raw_docs", "clean_chunks", "synthetic_qa_5000", "sft_dataset", "lora_adapter", "distilled_model",
          "benchmark_report", "gguf_export"}


@pytest.fixture(scope="module")
def cluster_module():
    spec = importlib.util.spec_from_file_location("slm_k8s_definitions", K8S / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gpu_limit(step_config: dict):
    return step_config["container_config"]["resources"]["limits"]["nvidia.com/gpu"]


def test_cluster_location_runs_steps_as_k8s_jobs_with_gpus_for_training(cluster_module):
    from slm_assets.resources.trainer import TrainerResource

    defs = cluster_module.cluster_definitions("subprocess")
    dg.Definitions.validate_loadable(defs)
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} >= ASSETS
    job = defs.resolve_job_def("build_domain_model")
    assert job.executor_def.name == "k8s"
    assert isinstance(defs.resources["trainer"], TrainerResource)
    # the executor.yaml mapped through `configured` validates against the k8s executor's schema
    executor = dg.validate_run_config(job, {})["execution"]["k8s"]
    assert executor["per_step_k8s_config"].keys() == {"lora_adapter", "distilled_model"}
    config = yaml.safe_load((K8S / "executor.yaml").read_text())
    assert {_gpu_limit(c) for c in config["per_step_k8s_config"].values()} == {1}


def test_k8s_trainer_mode_moves_the_gpu_to_the_training_pod(cluster_module, monkeypatch):
    from slm_assets.resources.k8s_trainer import K8sTrainerResource

    monkeypatch.setenv("SLM_TRAINER_IMAGE", "registry.example.com/slm-assets:0.1.0")
    defs = cluster_module.cluster_definitions("k8s")
    job = defs.resolve_job_def("build_domain_model")
    assert dg.validate_run_config(job, {})["execution"]["k8s"]["per_step_k8s_config"] == {}
    trainer = defs.resources["trainer"]
    assert isinstance(trainer, K8sTrainerResource)
    spec = trainer.pod_spec("slm_assets.train.lora_job")
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    with pytest.raises(ValueError, match="SLM_TRAINER"):
        cluster_module.cluster_definitions("celery")


def test_helm_values_match_the_instance_settings_and_the_trainer_mounts():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    instance = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    retries = values["dagsterDaemon"]["runRetries"]
    assert (retries["enabled"], retries["maxRetries"]) == (True, instance["run_retries"]["max_retries"])
    [deployment] = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--python-file") + 1] == "/opt/slm/deploy/k8s/definitions.py"
    env = {e["name"]: e["value"] for e in deployment["env"]}
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    trainer = yaml.safe_load((K8S / "trainer.yaml").read_text())
    assert env["SLM_WAREHOUSE_DIR"] == mounts["warehouse"] == trainer["warehouse_mount_path"]
    assert trainer["warehouse_claim"] == deployment["volumes"][0]["persistentVolumeClaim"]["claimName"]
