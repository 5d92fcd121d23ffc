"""What changed in a domain's inbox since the last look: a content digest per domain."""

import hashlib
from pathlib import Path

from slm_assets.ingest.local import iter_files


def inbox_digest(inbox: Path) -> tuple[str, int]:
    """(sha256 over every file's relative name and content hash, file count); empty inbox -> ('', 0)."""
    files = list(iter_files([inbox])) if inbox.exists() else []
    if not files:
        return "", 0
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(inbox)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16], len(files)
