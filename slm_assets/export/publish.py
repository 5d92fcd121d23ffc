"""A registered model version made from an MLflow run.

One run per gguf_export materialisation, in the domain's experiment, tagged with the Dagster run and the data
snapshots. It logs the merged model (transformers flavour, export.logged_model), the GGUF files and Modelfile,
the benchmark report and the lineage manifest. The model version is created from that logged model, so it has
the run's `run_id` and loads with `mlflow.transformers.load_model("models:/<name>/<version>")`; its tags keep the
`bundle` folder on disk (read by the server and the champion loader) and the snapshot ids `gc` must keep.
A bundle whose GGUFs fail parity is recorded in the run (parameters, metrics, report, manifest) and not registered.
"""

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from slm_assets.artifacts import BUNDLE_TAG
from slm_assets.export.bundle import model_card
from slm_assets.export.package import BuiltBundle
from slm_assets.export.registry import (
    promote_if_it_won,
    register_version,
    registered_name,
    version_with_content,
)
from slm_assets.storage import write_text_atomically
from slm_assets.versioning import code_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    mlflow_run_id: str
    version: str | None  # None: not registered (parity failed)
    promoted: bool
    why: str
    model_uri: str | None = None  # the logged model, models:/<model_id>


def export_tags(spec, built: BuiltBundle, manifest: dict, lineage_tags: dict[str, str],
                dagster_run_id: str) -> dict[str, str]:
    """Tags of both the MLflow run and the model version: Dagster run, scores, bundle, data snapshots."""
    report = built.report
    metric = report["primary_metric"]
    compared, against = report.get("compared") or [built.best, "base"]  # the rows the gate decided on
    return {"dagster.run_id": dagster_run_id, "dagster.partition": spec.name, "best_model": built.best,
            "code_version": code_version(), "dataset_hash": manifest["dataset_hash"], "base_model": spec.base_model,
            f"benchmark.{metric}": f"{report['models'][compared][metric]:.6f}",
            "benchmark.base": f"{report['models'][against][metric]:.6f}", BUNDLE_TAG: str(built.bundle),
            "content_sha256": content_sha256(built.ggufs), **lineage_tags}


def content_sha256(ggufs: dict[str, dict]) -> str:
    """One hash of a bundle's GGUF files (quantisation and sha256 of each): the identity of what is served."""
    return hashlib.sha256("\n".join(f"{q}:{ggufs[q]['sha256']}" for q in sorted(ggufs)).encode()).hexdigest()


def log_export_record(built: BuiltBundle, manifest_path: Path) -> None:
    """Into the active run: settings as params, scores and parity as metrics, the report and the manifest."""
    import mlflow

    report = built.report
    mlflow.log_params({"exported_model": built.best, "primary_metric": report["primary_metric"],
                       "quantizations": ",".join(built.ggufs), "n_questions": report.get("n_questions")})
    metrics = {f"benchmark.{row}.{key}": value for row, scores in report["models"].items()
               for key, value in scores.items() if _finite(value)}
    for qtype, result in built.parity.items():
        metrics.update({f"parity.{qtype}.{key}": float(value) for key, value in result.items() if _finite(value)})
        metrics[f"parity.{qtype}.passed"] = float(result["passed"])
        metrics[f"gguf.{qtype}.mib"] = built.ggufs[qtype]["bytes"] / 2**20
    mlflow.log_metrics(metrics)
    mlflow.log_dict(report, "benchmark/report.json")
    for path in [built.bundle / "benchmark.md", *sorted(built.bundle.glob("*.png"))]:
        mlflow.log_artifact(str(path), "benchmark")
    mlflow.log_artifact(str(manifest_path), "lineage")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def publish_bundle(tracking, spec, built: BuiltBundle, manifest: dict, lineage_tags: dict[str, str],
                   dagster_run_id: str) -> Published:
    """Log the export into a new MLflow run of `tracking` (a TrackingResource) and, when parity passed, register
    the logged model as a new version (alias candidate; champion if the benchmark's decision allows)."""
    import mlflow

    from slm_assets.export.logged_model import log_merged_model

    name = registered_name(spec.export.registered_model_prefix, spec.name)
    tags = export_tags(spec, built, manifest, lineage_tags, dagster_run_id)
    run_tags = {**tags, "dagster.asset": "gguf_export"}
    with tracking.active_run(spec.name, f"gguf_export-{dagster_run_id[:8]}", run_tags) as run_id:
        log_export_record(built, built.bundle / "manifest.json")
        if not built.passed:
            mlflow.set_tag("registered", "no: parity failed")
            return Published(run_id, None, False, "parity failed: not registered")
        for path in [*built.gguf_files, built.bundle / "Modelfile"]:
            mlflow.log_artifact(str(path), "gguf")
        card = model_card(spec, built.report, manifest, built.ggufs, built.parity, name, None)
        info = log_merged_model(built.merged, name, card, spec.benchmark.max_new_tokens)
        client = tracking.client()
        version = version_with_content(client, name, tags["content_sha256"])
        if version is None:
            version = register_version(client, name, info.model_uri, run_id, tags,
                                       description=spec.description.strip(), model_id=info.model_id)
        else:
            log.warning(f"{name} v{version} already holds these GGUF files (an interrupted export registered it): "
                        "not registering a copy")
        promoted, why = promote_if_it_won(client, name, version, built.report.get("promotion"))
        card = model_card(spec, built.report, manifest, built.ggufs, built.parity, name, version)
        write_text_atomically(built.bundle / "README.md", card)
        mlflow.log_text(card, "README.md")
        mlflow.set_tags({"registered": f"{name} v{version}", "promotion": why[:5000]})
    return Published(run_id, version, promoted, why, info.model_uri)


def published_metadata(published: Published) -> dict:
    return {"mlflow_run_id": published.mlflow_run_id, "version": published.version or "not registered",
            "champion": published.promoted, "promotion": published.why,
            "logged_model": published.model_uri or "none"}
