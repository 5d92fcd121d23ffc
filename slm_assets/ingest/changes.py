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
                "select source, etag, last_modified, doc_id from raw_documents where domain = ? and source_type = 'url'",
                [domain],
            ).fetchall():
                stored[source] = {"etag": etag, "last_modified": modified, "doc_id": doc_id}
    seeds_only = crawl.model_copy(update={"max_depth": 0})
    changed = []
    for item in fetch_pages(seeds_only, stored):
        if isinstance(item, FetchedPage) and content_id(item.data) != stored.get(item.url, {}).get("doc_id"):
            changed.append(f"{item.url}#{content_id(item.data)}")
    return sorted(changed)
