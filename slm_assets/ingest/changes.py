"""What changed in a domain's sources since the last look: one content digest per domain."""

import functools
import hashlib
from pathlib import Path

from slm_assets.ingest.local import iter_files


@functools.lru_cache(maxsize=65536)
def _file_hash(path: str, size: int, mtime_ns: int) -> bytes:
    """Content hash, memoised by (path, size, mtime): a sensor ticking every minute re-reads only changed files."""
    return hashlib.sha256(Path(path).read_bytes()).digest()


def content_hash(path: Path) -> bytes:
    stat = path.stat()
    return _file_hash(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def sources_digest(folders: list[Path], settings_file: Path | None = None, extra: list[str] | None = None
                   ) -> tuple[str, int]:
    """(sha256 over every document's path and content in `folders`, the settings file's content and `extra`
    markers such as changed pages, document count). Nothing at all -> ('', 0)."""
    files = sorted({p.resolve() for p in iter_files(folders)})
    markers = list(extra or [])
    if not files and not markers and not (settings_file and settings_file.exists()):
        return "", 0
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path).encode())
        digest.update(content_hash(path))
    if settings_file and settings_file.exists():
        digest.update(b"settings:" + content_hash(settings_file))
    for marker in markers:
        digest.update(f"extra:{marker}".encode())
    return digest.hexdigest()[:16], len(files) + len(markers)


def changed_urls(crawl, duckdb_path: Path, domain: str) -> list[str]:
    """`url#content-id` of each seed page whose content differs from the stored document, asked with
    If-None-Match/If-Modified-Since. A 304 or identical bytes is no change; a page never stored is a
    change; fetch errors are not (the stored copy stays)."""
    from slm_assets.ingest.documents import content_id
    from slm_assets.ingest.web import FetchedPage, fetch_pages
    from slm_assets.warehouse import connect

    stored: dict[str, dict] = {}
    if duckdb_path.exists():
        with connect(duckdb_path, read_only=True) as con:
            for source, etag, modified, doc_id in con.execute(
                "select source, etag, last_modified, doc_id from current_raw_documents where domain = ? "
                "and source_type = 'url'",
                [domain],
            ).fetchall():
                stored[source] = {"etag": etag, "last_modified": modified, "doc_id": doc_id}
    seeds_only = crawl.model_copy(update={"max_depth": 0})
    changed = []
    for item in fetch_pages(seeds_only, stored):
        if isinstance(item, FetchedPage) and content_id(item.data) != stored.get(item.url, {}).get("doc_id"):
            changed.append(f"{item.url}#{content_id(item.data)}")
    return sorted(changed)
