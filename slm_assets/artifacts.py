"""Artifact folders per run: `artifacts/<domain>/<kind>/<run id>/`, never rewritten by a later run, and a
`latest.json` pointer beside them that readers follow to the newest finished one.

A kind folder without a pointer (written before per-run folders existed) is read as it is.
"""

import json
from pathlib import Path

from slm_assets.storage import write_text_atomically

LATEST = "latest.json"


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
