"""Which files to serve for a domain: a registered model version (by alias or number) and its bundle.

The export asset registers `slm-<domain>` versions whose `bundle` tag is the bundle directory:
`<bundle>/<domain>-<qtype>.gguf`, `<bundle>/merged/` (safetensors + tokenizer) and a `Modelfile`
whose SYSTEM is the system prompt the model was trained with.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.artifacts import BundleNotFound, registered_bundle, served_gguf

log = logging.getLogger(__name__)


class ServedModelNotFound(LookupError):
    """No registered version matches the request; the message says what exists and what to do."""


@dataclass(frozen=True)
class ServedModel:
    name: str  # registered model name, e.g. slm-ev_charging; also the model name clients ask for
    version: str
    bundle: Path
    gguf_path: Path | None
    merged_dir: Path | None
    system_prompt: str | None
    base_model: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def modelfile_system_prompt(modelfile: Path) -> str | None:
    """The SYSTEM value of an Ollama Modelfile written by `export.modelfile.write_modelfile`.

    A triple-quoted value runs until the first line ending (after trailing blanks) in three quotes.
    """
    if not modelfile.exists():
        return None
    lines = modelfile.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("SYSTEM "):
            continue
        value = line[len("SYSTEM "):]
        if not value.startswith('"""'):
            return value.strip()
        collected = [value[3:]]
        for following in [None, *lines[i + 1:]]:
            if following is not None:
                collected.append(following)
            if collected[-1].rstrip(" \t").endswith('"""'):
                collected[-1] = collected[-1].rstrip(" \t")[:-3]
                return "\n".join(collected)
        return None
    return None


def resolve_served_model(domain: str, alias: str = "champion", version: int | str | None = None,
                         tracking_uri: str | None = None, prefix: str = "slm") -> ServedModel:
    """The version of `<prefix>-<domain>` to serve: `version` when given, else the one `alias` points at."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if tracking_uri is None:
        from slm_assets.settings import get_settings

        tracking_uri = get_settings().tracking_uri
    name = f"{prefix}-{domain}"
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        raise ServedModelNotFound(
            f"no registered model {name!r} for domain {domain!r} in {tracking_uri}: materialise the domain "
            f"(slm-assets materialize --domain {domain}) so gguf_export registers a version") from exc
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    if not versions:
        raise ServedModelNotFound(f"{name!r} has no versions yet: gguf_export registers one when parity passes")
    if version is not None:
        try:
            found = client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise ServedModelNotFound(f"{name!r} has no version {version}; versions: {versions}") from exc
    else:
        try:
            found = client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            aliases = dict(getattr(registered, "aliases", {}) or {})
            known = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
            raise ServedModelNotFound(
                f"{name!r} has no alias {alias!r} (aliases: {known}; versions: {versions}); serve another "
                "alias (e.g. candidate) or a version number") from exc
    try:
        bundle = registered_bundle(found)
    except BundleNotFound as exc:
        raise ServedModelNotFound(str(exc)) from exc
    if not bundle.is_dir():
        raise ServedModelNotFound(f"{name} v{found.version}: bundle directory {bundle} does not exist")
    merged = bundle / "merged"
    served = ServedModel(
        name=name, version=str(found.version), bundle=bundle, gguf_path=served_gguf(bundle),
        merged_dir=merged if (merged / "config.json").exists() else None,
        system_prompt=modelfile_system_prompt(bundle / "Modelfile"), base_model=(found.tags or {}).get("base_model"),
        tags=dict(found.tags or {}))
    log.info("serving %s v%s from %s (gguf %s)", name, served.version, bundle,
             served.gguf_path.name if served.gguf_path else "none")
    return served
