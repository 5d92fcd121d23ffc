"""Documents from local folders (and a domain's inbox)."""

from collections.abc import Iterator
from pathlib import Path

from slm_assets.ingest.documents import (
    IngestFailure,
    ParsedDocument,
    ParseError,
    SourceInfo,
    exception_failure,
)
from slm_assets.ingest.html import parse_html
from slm_assets.ingest.pdf import parse_pdf
from slm_assets.ingest.plain import parse_plain

SUFFIXES = {".html", ".htm", ".md", ".rst", ".txt", ".pdf"}


def parse_bytes(data: bytes, suffix: str, declared_charset: str | None = None) -> ParsedDocument:
    """Pick the parser from the file suffix (or content type mapped to one)."""
    suffix = suffix.lower()
    if suffix == ".pdf":
        return parse_pdf(data)
    if suffix in (".html", ".htm"):
        return parse_html(data, declared_charset)
    if suffix in (".md", ".rst", ".txt"):
        return parse_plain(data, suffix)
    raise ParseError(f"unsupported file type {suffix!r}")


def iter_files(folders: list[Path]) -> Iterator[Path]:
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in SUFFIXES and not path.name.startswith("."):
                yield path


def read_folder_documents(
    folders: list[Path], source_type: str = "file"
) -> Iterator[tuple[bytes, ParsedDocument, SourceInfo] | IngestFailure]:
    """Yield (bytes, parsed, info) for each readable file, or an IngestFailure naming the file."""
    for path in iter_files(folders):
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield IngestFailure(str(path), "fetch", f"cannot read: {exc}", type(exc).__name__)
            continue
        try:
            parsed = parse_bytes(data, path.suffix)
        except Exception as exc:  # one bad file never fails the run: it becomes its failure row
            yield exception_failure(str(path), "parse", exc)
            continue
        yield data, parsed, SourceInfo(source=str(path), source_type=source_type)
