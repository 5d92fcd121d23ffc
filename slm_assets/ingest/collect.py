"""All of a domain's sources -> `raw_documents` rows and `ingest_failures` rows."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.ingest.config import SourcesConfig
from slm_assets.ingest.documents import (
    IngestFailure,
    SourceInfo,
    document_row,
    exception_failure,
    failure_row,
)
from slm_assets.ingest.local import parse_bytes, read_folder_documents
from slm_assets.ingest.web import FetchedPage, NotModified, fetch_pages

log = logging.getLogger(__name__)

CONTENT_TYPE_SUFFIX = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/markdown": ".md",
    "text/x-rst": ".rst",
    "text/plain": ".txt",
}


@dataclass
class CollectResult:
    documents: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    unchanged_urls: list[str] = field(default_factory=list)  # 304: keep the stored row
    duplicates: int = 0  # same bytes under another name


def collect_documents(
    domain: str,
    sources: SourcesConfig,
    folders: list[Path],
    inbox: Path | None = None,
    known_validators: dict[str, dict] | None = None,
) -> CollectResult:
    """Read folders, the inbox and the URLs; never raises for one bad input."""
    result = CollectResult()
    seen: set[str] = set()

    def add(data: bytes, parsed, info: SourceInfo) -> None:
        try:
            row = document_row(domain, data, parsed, info)
        except Exception as exc:  # e.g. language detection on odd text: that document fails, not the run
            result.failures.append(failure_row(domain, exception_failure(info.source, "parse", exc)))
            return
        if row["doc_id"] in seen:
            result.duplicates += 1
            return
        seen.add(row["doc_id"])
        result.documents.append(row)

    groups = [(folders, "file")] + ([([inbox], "inbox")] if inbox is not None else [])
    for group_folders, source_type in groups:
        for item in read_folder_documents(group_folders, source_type=source_type):
            if isinstance(item, IngestFailure):
                result.failures.append(failure_row(domain, item))
            else:
                add(*item)

    if sources.crawl.seed_urls:
        for item in fetch_pages(sources.crawl, known_validators):
            if isinstance(item, IngestFailure):
                result.failures.append(failure_row(domain, item))
            elif isinstance(item, NotModified):
                result.unchanged_urls.append(item.url)
            elif isinstance(item, FetchedPage):
                suffix = CONTENT_TYPE_SUFFIX.get(item.content_type or "", Path(item.url).suffix or ".html")
                if item.content_type and item.content_type not in CONTENT_TYPE_SUFFIX:
                    result.failures.append(
                        failure_row(domain, IngestFailure(item.url, "policy", f"unsupported content type {item.content_type}"))
                    )
                    continue
                try:
                    parsed = parse_bytes(item.data, suffix, declared_charset=item.charset)
                except Exception as exc:  # one bad page never fails the crawl: it becomes its failure row
                    result.failures.append(failure_row(domain, exception_failure(item.url, "parse", exc)))
                    continue
                if item.final_url:  # redirected: the row keeps the URL asked for (validators are keyed by it)
                    parsed.metadata.setdefault("final_url", item.final_url)
                parsed.metadata.setdefault("crawl_depth", item.depth)
                add(item.data, parsed, SourceInfo(
                    source=item.url, source_type="url", content_type=item.content_type,
                    http_status=item.status, etag=item.etag, last_modified=item.last_modified,
                ))
    return result


def keep_stored_on_failure(result: CollectResult, stored: list[dict]) -> list[dict]:
    """Stored documents whose source failed this time or answered 304 are kept, never lost."""
    fresh_sources = {row["source"] for row in result.documents}
    fresh_ids = {row["doc_id"] for row in result.documents}
    keep_sources = {f["source"] for f in result.failures} | set(result.unchanged_urls)
    kept = [
        row for row in stored
        if row["source"] in keep_sources and row["source"] not in fresh_sources and row["doc_id"] not in fresh_ids
    ]
    return result.documents + kept
