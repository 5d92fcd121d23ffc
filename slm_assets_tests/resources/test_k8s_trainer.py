"""K8sTrainerResource without a cluster: the pod it asks for, and what reaches the pod through Pipes."""

import dagster as dg
import pytest

from slm_assets.resources.k8s_trainer import K8sTrainerResource

MODULE = "slm_assets.train.lora_job"


def _trainer(**overrides) -> K8sTrainerResource:
    return K8sTrainerResource(**{
        "image": "registry.example.com/slm-assets:1.0", "namespace": "ml", "warehouse_claim": "slm-warehouse",
        "warehouse_mount_path": "/opt/slm/warehouse", "node_selector": {"nvidia.com/gpu.present": "true"},
        "env_secrets": ["mlflow-token"], "extra_env": {"SLM_MLFLOW_TRACKING_URI": "http://mlflow:5000"},
        **overrides})


def test_pod_asks_for_a_gpu_node_and_mounts_the_warehouse():
    pod = _trainer().pod_body("train-abc", MODULE, {"DAGSTER_PIPES_CONTEXT": "ctx"})
    container = pod.spec.containers[0]
    assert pod.metadata.name == "train-abc"
    assert pod.metadata.labels["slm-assets/job"] == "lora-job"
    assert container.image == "registry.example.com/slm-assets:1.0"
    assert container.command == ["python", "-m", MODULE]
    assert container.resources.limits == {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert container.resources.requests == {"cpu": "4", "memory": "32Gi"}
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    mounts = {m.name: m.mount_path for m in container.volume_mounts}
    assert mounts == {"dshm": "/dev/shm", "warehouse": "/opt/slm/warehouse"}
    claims = {v.name: v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim}
    assert claims == {"warehouse": "slm-warehouse"}
    env = {e.name: e.value for e in container.env}
    assert env["DAGSTER_PIPES_CONTEXT"] == "ctx" and env["SLM_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert [e.secret_ref.name for e in container.env_from] == ["mlflow-token"]


def test_multi_gpu_launcher_and_cpu_only_pods():
    pod = _trainer(launcher=["torchrun", "--nproc_per_node", "4"], gpus=4).pod_body("p", MODULE, {})
    container = pod.spec.containers[0]
    assert container.command == ["torchrun", "--nproc_per_node", "4", "-m", MODULE]
    assert container.resources.limits["nvidia.com/gpu"] == "4"
    cpu_only = _trainer(gpus=0, warehouse_claim=None).pod_body("p", MODULE, {}).spec.containers[0]
    assert "nvidia.com/gpu" not in cpu_only.resources.limits
    assert [m.name for m in cpu_only.volume_mounts] == ["dshm"]


class _PodCreated(Exception):
    pass


class _RecordingCoreApi:
    """Stands in for the Kubernetes API: records the pod and stops there (nothing is sent anywhere)."""

    def __init__(self):
        self.pods = []

    def create_namespaced_pod(self, namespace, body):
        self.pods.append((namespace, body))
        raise _PodCreated

    def delete_namespaced_pod(self, name, namespace):  # pragma: no cover - never reached: creation stops the run
        raise AssertionError("no pod was created")


def test_run_hands_the_pod_the_pipes_context_with_the_extras(monkeypatch):
    from dagster_k8s import PipesK8sClient
    from dagster_k8s.client import DagsterKubernetesClient
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, decode_param

    api = _RecordingCoreApi()
    monkeypatch.setattr(PipesK8sClient, "_load_k8s_config", lambda self: None)
    monkeypatch.setattr(DagsterKubernetesClient, "production_client",
                        staticmethod(lambda **_: DagsterKubernetesClient(None, api, print, lambda s: None, lambda: 0)))
    extras = {"dataset_dir": "/opt/slm/warehouse/artifacts/ev/sft", "train_config": {"max_steps": 6}}

    @dg.asset
    def lora_adapter(context: dg.AssetExecutionContext, trainer: K8sTrainerResource):
        with pytest.raises(_PodCreated):
            trainer.run(context, MODULE, extras)
        return dg.MaterializeResult()  # the pod never ran: nothing was reported through Pipes

    assert dg.materialize([lora_adapter], resources={"trainer": _trainer()}).success
    [(namespace, pod)] = api.pods
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    context = decode_param(env[DAGSTER_PIPES_CONTEXT_ENV_VAR])["data"]  # what open_dagster_pipes() reads in the pod
    assert namespace == "ml"
    assert context["extras"] == extras and context["asset_keys"] == ["lora_adapter"]
    assert decode_param(env[DAGSTER_PIPES_MESSAGES_ENV_VAR]) == {"stdio": "stderr"}  # read back from the pod's logs
    assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
