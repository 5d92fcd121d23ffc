"""The MLflow model registry: one registered model per domain, a version per export.

Alias `candidate` marks every new version; `champion` moves only to a version that the benchmark found better
than the current champion beyond noise, with both scored in the same run on the same questions (the first
version, or one benchmarked while the champion's files could not be loaded, must beat base that way).
"""

import logging

log = logging.getLogger(__name__)


def registered_name(prefix: str, domain: str) -> str:
    return f"{prefix}-{domain}"


def register_version(client, name: str, source_uri: str, run_id: str | None, tags: dict[str, str],
                     description: str = "", model_id: str | None = None) -> str:
    """Create the registered model if needed and add a version; alias `candidate` moves to it. Returns the version.

    gguf_export passes its run's logged model (`models:/<model_id>`, the run id and the model id), so
    `models:/<name>/<version>` loads with MLflow; the tags carry the bundle folder and the data snapshots."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    version = client.create_model_version(name=name, source=source_uri, run_id=run_id, tags=tags,
                                          description=description, model_id=model_id)
    client.set_registered_model_alias(name, "candidate", version.version)
    return str(version.version)


def version_with_content(client, name: str, content_sha256: str) -> str | None:
    """The version already registered for these exact GGUF files (tag `content_sha256`), or None. A gguf_export
    killed after registering its version and run again builds the same files: it reuses that version instead of
    adding a copy."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}' and tag.content_sha256 = '{content_sha256}'")
    except MlflowException:
        return None
    return str(min(int(v.version) for v in versions)) if versions else None


def champion_version(client, name: str):
    """The model version the `champion` alias points at, or None (no registered model, or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None


def promote_if_it_won(client, name: str, version: str, promotion: dict | None) -> tuple[bool, str]:
    """Move `champion` to `version` when the benchmark's `promotion` decision (gate.promotion_versus_champion)
    passed and the alias still points at the champion that benchmark scored; returns (promoted, why)."""
    if not promotion:
        return False, "not promoted: the benchmark report has no promotion decision (re-run benchmark_report)"
    scored = (promotion.get("champion") or {}).get("version")
    current = champion_version(client, name)
    now = str(current.version) if current is not None else None
    if now == str(version) and promotion["passed"]:  # promoted by an interrupted run of this same export
        return True, promotion["verdict"]
    if now != scored:
        return False, (f"not promoted: the champion is v{now} now but the benchmark compared with "
                       f"{'v' + scored if scored else 'no champion'}; re-run benchmark_report")
    if not promotion["passed"]:
        return False, promotion["verdict"]
    client.set_registered_model_alias(name, "champion", version)
    return True, promotion["verdict"]


def version_tags(client, name: str) -> list[dict[str, str]]:
    """The tags of every version of a registered model ([] when it does not exist yet)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return [dict(client.get_model_version(name, v.version).tags) for v in versions]
