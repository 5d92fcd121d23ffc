"""Code version for lineage: the git commit when available, else the package version."""

import subprocess
from functools import lru_cache
from importlib.metadata import version

from slm_assets.settings import PROJECT_ROOT


@lru_cache(maxsize=1)
def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"slm_assets-{version('slm_assets')}"


def project_version() -> dict:
    """The package version and, in a git checkout, the commit (and whether the tree had local changes)."""
    record = {"package": version("slm_assets"), "git_commit": None, "dirty": None}
    try:
        record["git_commit"] = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        record["dirty"] = bool(subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return record
