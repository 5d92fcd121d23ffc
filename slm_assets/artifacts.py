"""Artifact folders per run: `artifacts/<domain>/<kind>/<run id>/`, never rewritten by a later run, and a
`latest.json` pointer beside them that readers follow to the newest finished one.

A kind folder without a pointer (written before per-run folders existed) is read as it is.
"""

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

from slm_assets.storage import write_text_atomically

LATEST = "latest.json"
# the GGUF a bundle serves: the domain default q4_k_m first (ollama and llama.cpp users' usual pick), then larger
QTYPE_PREFERENCE = ("q4_k_m", "q5_k_m", "q6_k", "q8_0", "f16", "bf16", "f32")


# tags of a registered model version that name what it was built from (export.lineage_record writes them, the
# lineage and retention code read them): its bundle folder, each artifact folder and each warehouse snapshot
BUNDLE_TAG = "bundle"
ARTIFACT_TAG = "artifact."
SNAPSHOT_TAG = "snapshot."

class BundleNotFound(LookupError):
    """A registered model version whose export bundle cannot be located."""


def publish_latest(run_dir: Path) -> Path:
    """Point the kind folder's `latest.json` at `run_dir` (a child of it); done last, once the run's files are
    complete, so a reader never follows it into a half-written folder."""
    write_text_atomically(run_dir.parent / LATEST, json.dumps({"run": run_dir.name}))
    return run_dir


def latest_run_dir(kind_dir: Path) -> Path:
    """The folder `latest.json` points at; the kind folder itself when there is no pointer."""
    pointer = Path(kind_dir) / LATEST
    if not pointer.exists():
        return Path(kind_dir)
    return Path(kind_dir) / json.loads(pointer.read_text())["run"]


def run_dirs(kind_dir: Path) -> list[Path]:
    """The per-run folders of a kind (hidden staging folders left out)."""
    if not Path(kind_dir).is_dir():
        return []
    return sorted(p for p in Path(kind_dir).iterdir() if p.is_dir() and not p.name.startswith("."))


def newest_export_bundle(domain_dir: Path, holding: str = "manifest.json") -> Path | None:
    """The newest export bundle (`<domain_dir>/export/run-*`) that holds `holding` (a file or a path inside
    it), or None. A bundle's age is its manifest.json's (written last by gguf_export), else that file's."""
    found = [p.parents[len(Path(holding).parts) - 1] for p in (Path(domain_dir) / "export").glob(f"run-*/{holding}")]
    if not found:
        return None

    def age(bundle: Path) -> float:
        manifest = bundle / "manifest.json"
        return (manifest if manifest.exists() else bundle / holding).stat().st_mtime

    return max(found, key=age)


def served_gguf(bundle: Path) -> Path | None:
    """The bundle's GGUF that `serve`, `ask` and `eval` open: `<domain>-<qtype>.gguf` by QTYPE_PREFERENCE, else
    the first by name; None for a bundle without one."""
    ggufs = sorted(Path(bundle).glob("*.gguf"))
    for qtype in QTYPE_PREFERENCE:
        for path in ggufs:
            if path.stem.endswith(f"-{qtype}"):
                return path
    return ggufs[0] if ggufs else None


def registered_bundle(version) -> Path:
    """The export bundle folder of an MLflow model version: its `bundle` tag, else its file:// source."""
    tag = (version.tags or {}).get(BUNDLE_TAG)
    if tag:
        return Path(tag)
    parsed = urlparse(version.source or "")
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    raise BundleNotFound(f"{version.name} v{version.version} has no 'bundle' tag and a non-file source "
                         f"{version.source!r}: cannot find its files")
