"""Training processes as Kubernetes pods through Dagster Pipes: the cluster twin of TrainerResource.

Same `run(context, module, extras)` interface: the asset code does not change. The Pipes context (extras included)
reaches the pod as an environment variable and the job's messages (logs, metrics, the materialisation) come back
through the pod's logs (dagster-k8s's PipesK8sClient). The extras carry file paths (dataset_dir, out_dir,
cache_dir): the pod must see them at the same place, so the shared warehouse volume is mounted at the same path as
in the run/step pods (`warehouse_claim`, `warehouse_mount_path`), and MLflow should be a server
(SLM_MLFLOW_TRACKING_URI), not SQLite on a shared volume.
"""

import dagster as dg
from pydantic import Field

DEFAULT_GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


class K8sTrainerResource(dg.ConfigurableResource):
    """Runs `python -m <module>` (or a multi-GPU launcher) in a pod on a GPU node and waits for it."""

    image: str = Field(description="Image with slm_assets installed (normally the user-code image).")
    namespace: str | None = Field(
        default=None, description="Namespace of training pods; default: the current one in a cluster, else `default`."
    )
    python: str = Field(default="python", description="Interpreter in the image.")
    launcher: list[str] = Field(
        default_factory=list,
        description="Prefix that replaces `python` for multi-GPU training, e.g. ['torchrun', '--nproc_per_node', '4'] "
        "or ['accelerate', 'launch', '--multi_gpu', '--num_processes', '4']; `-m <module>` is appended. "
        "The job modules report through Pipes from every rank: see deploy/README.md before using it.",
    )
    gpus: int = Field(default=1, ge=0, description="nvidia.com/gpu limit of the pod (0: CPU only).")
    cpu: str = Field(default="4", description="CPU request and limit.")
    memory: str = Field(default="32Gi", description="Memory request and limit.")
    shm_size: str = Field(default="8Gi", description="Size of /dev/shm (memory-backed): DataLoader workers, NCCL.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pod must match, e.g. {'nvidia.com/gpu.present': 'true'}."
    )
    tolerations: list[dict[str, str]] = Field(
        default_factory=lambda: [dict(t) for t in DEFAULT_GPU_TOLERATIONS],
        description="Tolerations (snake_case keys), by default the usual taint of GPU nodes.",
    )
    warehouse_claim: str | None = Field(
        default=None, description="PersistentVolumeClaim (ReadWriteMany) holding the warehouse; none: no volume."
    )
    warehouse_mount_path: str = Field(
        default="/opt/slm/warehouse", description="Where it is mounted: equal to SLM_WAREHOUSE_DIR of the run pods."
    )
    service_account_name: str | None = Field(default=None, description="Service account of the pod.")
    image_pull_secrets: list[str] = Field(default_factory=list, description="Secrets to pull the image.")
    env_secrets: list[str] = Field(
        default_factory=list, description="Secrets whose keys become environment variables (e.g. an MLflow token)."
    )
    extra_env: dict[str, str] = Field(default_factory=dict, description="Environment added to the container.")
    load_incluster_config: bool | None = Field(
        default=None, description="True in a cluster; None: in-cluster when KUBERNETES_SERVICE_HOST is set."
    )
    kubeconfig_file: str | None = Field(default=None, description="Kubeconfig outside a cluster.")
    pod_wait_timeout_s: float = Field(default=24 * 3600, gt=0, description="Give up on a pod after this long.")

    def command(self, module: str) -> list[str]:
        return [*(self.launcher or [self.python]), "-m", module]

    def pod_meta(self, module: str) -> dict:
        return {"labels": {"app.kubernetes.io/name": "slm-trainer", "app.kubernetes.io/part-of": "slm-assets",
                           "slm-assets/job": module.rsplit(".", 1)[-1].replace("_", "-")}}

    def pod_spec(self, module: str) -> dict:
        """The base pod spec (snake_case, as the kubernetes client's models) handed to PipesK8sClient."""
        limits = {"cpu": self.cpu, "memory": self.memory}
        if self.gpus:
            limits["nvidia.com/gpu"] = str(self.gpus)  # extended resources: the request defaults to the limit
        container = {
            "name": "trainer",
            "image": self.image,
            "command": self.command(module),
            "env": [{"name": "PYTHONUNBUFFERED", "value": "1"},
                    *({"name": k, "value": v} for k, v in sorted(self.extra_env.items()))],
            "env_from": [{"secret_ref": {"name": name}} for name in self.env_secrets],
            "resources": {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits},
            "volume_mounts": [{"name": "dshm", "mount_path": "/dev/shm"}],
        }
        volumes = [{"name": "dshm", "empty_dir": {"medium": "Memory", "size_limit": self.shm_size}}]
        if self.warehouse_claim:
            container["volume_mounts"].append({"name": "warehouse", "mount_path": self.warehouse_mount_path})
            volumes.append({"name": "warehouse", "persistent_volume_claim": {"claim_name": self.warehouse_claim}})
        spec = {
            "containers": [container],
            "volumes": volumes,
            "restart_policy": "Never",  # a failed training is retried by Dagster, not by the kubelet
            "node_selector": dict(self.node_selector),
            "tolerations": [dict(t) for t in self.tolerations],
            "image_pull_secrets": [{"name": name} for name in self.image_pull_secrets],
        }
        if self.service_account_name:
            spec["service_account_name"] = self.service_account_name
        return spec

    def pod_body(self, pod_name: str, module: str, env_vars: dict[str, str]):
        """The V1Pod PipesK8sClient would create, built without a cluster (what the unit test checks)."""
        from dagster_k8s.pipes import build_pod_body

        return build_pod_body(pod_name=pod_name, image=None, command=None, env_vars=env_vars,
                              base_pod_meta=self.pod_meta(module), base_pod_spec=self.pod_spec(module))

    def run(self, context: dg.AssetExecutionContext, module: str, extras: dict) -> dg.MaterializeResult:
        from dagster_k8s import PipesK8sClient

        client = PipesK8sClient(load_incluster_config=self.load_incluster_config,
                                kubeconfig_file=self.kubeconfig_file)
        invocation = client.run(
            context=context, extras=extras, namespace=self.namespace,
            base_pod_meta=self.pod_meta(module), base_pod_spec=self.pod_spec(module),
            pod_wait_timeout=self.pod_wait_timeout_s,
        )
        return invocation.get_materialize_result()
