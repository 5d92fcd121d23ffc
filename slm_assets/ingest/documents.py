"""What every parser returns and what every failure records."""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)


@dataclass
class ParsedDocument:
    """Text extracted from one source, with where each page's text lies in it."""

    title: str
    text: str
    parser: str
    language: str | None = None
    page_count: int | None = None
    page_spans: list[tuple[int, int, int]] = field(default_factory=list)  # (page, char_start, char_end)
    metadata: dict = field(default_factory=dict)


@dataclass
class SourceInfo:
    """Where the bytes came from."""

    source: str
    source_type: str  # url | file | inbox
    content_type: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class IngestFailure:
    source: str
    stage: str  # fetch | parse | robots | policy
    reason: str
    error_type: str | None = None  # the exception's class when one was raised (ParseError, OSError, a parser bug's)


class ParseError(ValueError):
    """A source that cannot be turned into text; the message says why."""


def exception_failure(source: str, stage: str, exc: Exception) -> IngestFailure:
    """The failure row of one document whose reading raised: a known refusal (ParseError) keeps its
    message; anything else is a parser bug or a malformed input nobody anticipated, logged with its
    traceback and recorded with its type, so it costs that document only, never the run."""
    if isinstance(exc, ParseError):
        return IngestFailure(source, stage, str(exc), type(exc).__name__)
    log.warning("unexpected %s while reading %s", type(exc).__name__, source, exc_info=exc)
    return IngestFailure(source, stage, f"unexpected {type(exc).__name__}: {exc}"[:1000], type(exc).__name__)


def content_id(data: bytes) -> str:
    """Content-hash id: the same bytes under two names are one document."""
    return hashlib.sha256(data).hexdigest()[:16]


def document_row(domain: str, data: bytes, parsed: ParsedDocument, info: SourceInfo) -> dict:
    """A `raw_documents` row."""
    import json

    return {
        "domain": domain,
        "doc_id": content_id(data),
        "source": info.source,
        "source_type": info.source_type,
        "title": parsed.title,
        "text": parsed.text,
        "parser": parsed.parser,
        "content_type": info.content_type,
        "language": parsed.language or _detected_language(parsed.text),
        "http_status": info.http_status,
        "etag": info.etag,
        "last_modified": info.last_modified,
        "n_bytes": len(data),
        "page_count": parsed.page_count,
        "page_spans": json.dumps(parsed.page_spans),
        "metadata": json.dumps(parsed.metadata, default=str),
        "fetched_at": datetime.now(UTC).replace(tzinfo=None),
    }


def _detected_language(text: str) -> str | None:
    from slm_assets.text import detect_language

    return detect_language(text)[0]


def failure_row(domain: str, failure: IngestFailure) -> dict:
    return {
        "domain": domain,
        "source": failure.source,
        "stage": failure.stage,
        "reason": failure.reason,
        "error_type": failure.error_type,
        "failed_at": datetime.now(UTC).replace(tzinfo=None),
    }
