"""The MLflow model registry: one registered model per domain, a version per export.

Alias `candidate` marks every new version; `champion` moves only to a version that beats the
current champion on the benchmark's primary metric (the first must beat base).
"""

import logging

log = logging.getLogger(__name__)


def registered_name(prefix: str, domain: str) -> str:
    return f"{prefix}-{domain}"


def register_version(client, name: str, source_uri: str, run_id: str | None, tags: dict[str, str],
                     description: str = "") -> str:
    """Create the registered model if needed and add a version pointing at the bundle. Returns the version."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    version = client.create_model_version(name=name, source=source_uri, run_id=run_id, tags=tags,
                                          description=description)
    client.set_registered_model_alias(name, "candidate", version.version)
    return str(version.version)


def champion_score(client, name: str, metric: str) -> tuple[str | None, float | None]:
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None, None
    value = version.tags.get(f"benchmark.{metric}")
    return version.version, float(value) if value is not None else None


def maybe_promote(client, name: str, version: str, metric: str, score: float, base_score: float,
                  min_improvement: float = 0.0) -> tuple[bool, str]:
    """Move `champion` to `version` when it wins; returns (promoted, why)."""
    current, current_score = champion_score(client, name, metric)
    bar = current_score if current_score is not None else base_score
    against = f"champion v{current}" if current_score is not None else "base"
    if score > bar + min_improvement:
        client.set_registered_model_alias(name, "champion", version)
        return True, f"{metric} {score:.4f} beats {against} ({bar:.4f})"
    return False, f"{metric} {score:.4f} does not beat {against} ({bar:.4f})"


def version_tags(client, name: str) -> list[dict[str, str]]:
    """The tags of every version of a registered model ([] when it does not exist yet)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return [dict(client.get_model_version(name, v.version).tags) for v in versions]
