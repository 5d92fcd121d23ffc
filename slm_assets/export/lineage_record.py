"""What a model version records when it is registered, so its lineage resolves however much changes later:
the data snapshots (ids, hashes, parents), the artifact run folders, the domain YAML and resolved settings
as used, the project version and the base model's weights hash. Written into the bundle's manifest and, as
ids, into the registry version's tags (which `slm-assets gc` reads to keep what a version needs)."""

import hashlib
import json
import os
from pathlib import Path

from slm_assets.artifacts import ARTIFACT_TAG, SNAPSHOT_TAG
from slm_assets.snapshots import get_snapshot
from slm_assets.versioning import project_version

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def weights_sha256(model_dir: Path) -> str:
    """sha256 over the model's weight files (name and bytes, in name order); cached beside them by size+mtime."""
    model_dir = Path(model_dir)
    files = sorted(p for p in (model_dir.iterdir() if model_dir.is_dir() else [model_dir])
                   if p.suffix in WEIGHT_SUFFIXES)
    stamp = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    cache = (model_dir if model_dir.is_dir() else model_dir.parent) / ".weights_sha256.json"
    if cache.exists() and json.loads(cache.read_text()).get("stamp") == stamp:
        return json.loads(cache.read_text())["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    value = digest.hexdigest()
    if os.access(cache.parent, os.W_OK):
        cache.write_text(json.dumps({"stamp": stamp, "sha256": value}))
    return value


def base_model_record(reference: str, cache_dir: Path) -> dict:
    """The base model's name, where it resolved to, and the hash of its weights (None for a hub id)."""
    from slm_assets.models import resolve_model

    resolved = resolve_model(reference, cache_dir)
    local = Path(resolved).exists()
    return {"name": reference, "resolved": resolved if local else None,
            "weights_sha256": weights_sha256(Path(resolved)) if local else None}


def snapshot_chain(con, snapshot_id: str) -> dict[str, dict]:
    """asset -> snapshot for `snapshot_id` and every snapshot it was made from."""
    chain, todo = {}, [snapshot_id]
    while todo:
        snapshot = get_snapshot(con, todo.pop())
        if snapshot.asset not in chain:
            chain[snapshot.asset] = snapshot.as_dict()
            todo.extend(snapshot.parent_ids)
    return chain


def lineage_record(con, spec, domain_yaml: str, sft_dir: Path, artifact_dirs: dict[str, Path],
                   dagster_run_id: str, models_cache: Path) -> dict:
    """Everything `slm-assets lineage` shows for a version, fixed at registration."""
    sft = json.loads((Path(sft_dir) / "manifest.json").read_text())
    return {
        "domain": spec.name,
        "dagster_run_id": dagster_run_id,
        "domain_yaml": domain_yaml,
        "resolved_settings": spec.model_dump(mode="json"),
        "project": project_version(),
        "base_model": base_model_record(spec.base_model, models_cache),
        "snapshots": snapshot_chain(con, sft["snapshot"]["snapshot_id"]),
        "artifacts": {kind: str(path) for kind, path in sorted(artifact_dirs.items())},
    }


def registration_tags(record: dict) -> dict[str, str]:
    """Registry tags naming the version's data snapshots and artifact folders (what gc must keep)."""
    tags = {f"{SNAPSHOT_TAG}{asset}": s["snapshot_id"] for asset, s in record["snapshots"].items()}
    tags.update({f"{SNAPSHOT_TAG}{asset}.hash": s["hash"] for asset, s in record["snapshots"].items()})
    tags.update({f"{ARTIFACT_TAG}{kind}": path for kind, path in record["artifacts"].items()})
    tags["base_model.weights_sha256"] = record["base_model"]["weights_sha256"] or "unknown (hub id)"
    tags["project.git_commit"] = record["project"]["git_commit"] or "none"
    return tags
