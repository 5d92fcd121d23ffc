"""Writes that never leave half a file, and fail with a message a user can act on.

An artifact (adapter, report, summary) is written under a temporary name next to its target and
renamed over it only once complete, so a crash or a full disk leaves the previous version in place,
never a truncated one. A write that fails because the disk is full or read-only raises
`WriteFailed` naming the path and the free space of its file system.
"""

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the file system is read-only",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


class WriteFailed(OSError):
    """A write that could not be done; the message names the path, the reason and the free space."""


def free_space(path: Path) -> str:
    """Free and total space of the file system holding `path` (or its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{usage.free / 2**20:,.0f} MiB free of {usage.total / 2**20:,.0f} MiB at {probe}"


def is_disk_full_or_read_only(exc: Exception) -> bool:
    """An OSError with ENOSPC/EROFS/EDQUOT, or a library's error saying so in words (DuckDB's IOException)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(words in text for words in ("no space left", "disk full", "read-only file system", "quota exceeded"))


def describe_write_error(path: Path, exc: OSError) -> str:
    reason = REASONS.get(exc.errno, exc.strerror or type(exc).__name__)
    return f"cannot write {path}: {reason} ({free_space(path)}); nothing earlier was replaced [{exc}]"


@contextmanager
def named_write_errors(path: Path) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into WriteFailed naming it and the free space."""
    try:
        yield
    except WriteFailed:
        raise
    except OSError as exc:
        raise WriteFailed(exc.errno, describe_write_error(path, exc)) from exc


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def replaced_atomically(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `target` to write (a file or a folder); when the block succeeds it
    replaces `target` by rename, otherwise it is removed and `target` stays as it was."""
    target = Path(target)
    staging = target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}")  # suffix kept for writers that read it
    _remove(staging)
    try:
        with named_write_errors(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            yield staging
            if staging.is_dir() and target.is_dir():  # a folder cannot be renamed over a non-empty one
                retired = target.with_name(f".{target.name}.old-{os.getpid()}")
                _remove(retired)
                target.rename(retired)
                staging.rename(target)
                _remove(retired)
            else:
                os.replace(staging, target)
    finally:
        _remove(staging)


def write_text_atomically(path: Path, text: str) -> Path:
    """`path.write_text(text)`, all or nothing."""
    with replaced_atomically(path) as staging:
        with open(staging, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return path
