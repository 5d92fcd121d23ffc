"""PDF to text with layout: columns in reading order, tables as Markdown, running headers and footers
removed, hyphenated line breaks joined, and (page, start, end) spans for attribution.

The page-level work is in `pdf_layout` (rows, columns, tables) and `pdf_text` (headers/footers,
paragraphs, hyphens). `parse_pdfs_parallel` spreads many files over processes: pdfminer is pure
Python, so threads would not run in parallel.
"""

import io
import logging
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from slm_assets.ingest.documents import ParsedDocument, ParseError
from slm_assets.ingest.pdf_hyphens import Vocabulary
from slm_assets.ingest.pdf_layout import Line, PageContent, read_page, reading_order
from slm_assets.ingest.pdf_text import page_paragraphs, remove_page_furniture

log = logging.getLogger(__name__)

PAGE_SEPARATOR = "\n\n"
PLACEHOLDER_TITLES = {"untitled", "untitled document", "title", "document"}  # what tools write when no title was set


def parse_pdf(data: bytes) -> ParsedDocument:
    """Text of every page in reading order (tables as Markdown), with (page, start, end) spans."""
    _check_envelope(data)
    pdf = _open(data)
    pages: list[PageContent] = []
    unreadable: list[str] = []
    with pdf:
        title = str((pdf.metadata or {}).get("Title") or "").strip()
        if title.lower() in PLACEHOLDER_TITLES:
            title = ""
        try:
            page_objects = list(pdf.pages)
        except Exception as exc:  # pdfminer raises many types (KeyError, TypeError ...) on a broken page tree
            raise ParseError(f"corrupt PDF: page tree unreadable: {_cause(exc)}") from exc
        for number, page in enumerate(page_objects, start=1):
            try:
                pages.append(read_page(page, number))
            except Exception as exc:  # one damaged page must not lose the rest of the document
                log.warning("PDF page %d unreadable: %s", number, _cause(exc))
                unreadable.append(f"page {number}: {_cause(exc)}")
            finally:
                page.close()  # frees the page's cached layout; long documents stay flat in memory
    page_count = len(page_objects)
    if not pages:
        raise ParseError(f"corrupt PDF: no readable page of {page_count} ({'; '.join(unreadable[:3])})")
    if not any(p.rows or p.tables for p in pages):
        raise ParseError(f"no text layer on any of {page_count} pages (scanned or image-only PDF; needs OCR)")
    removed = remove_page_furniture(pages)
    ordered = [(page, _page_items(page, unreadable)) for page in pages]
    vocabulary = Vocabulary()
    for _page, items in ordered:
        for item in items:
            if isinstance(item, Line):
                vocabulary.add(item.text)
    parts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    offset = 0
    for page, items in ordered:
        page_text = "\n\n".join(page_paragraphs(items, vocabulary))
        if not page_text:
            continue
        if parts:
            offset += len(PAGE_SEPARATOR)
        spans.append((page.number, offset, offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    text = PAGE_SEPARATOR.join(parts)
    metadata = {
        "two_column_pages": [p.number for p in pages if p.two_columns],
        "tables": sum(len(p.tables) for p in pages),
        "removed_headers_footers": removed,
        "pages_without_text": [p.number for p in pages if not (p.rows or p.tables)],
    }
    if unreadable:
        metadata["unreadable_pages"] = unreadable
    return ParsedDocument(
        title=title or _first_heading(pages) or text.split("\n", 1)[0][:120],
        text=text, parser="pdf", page_count=page_count, page_spans=spans, metadata=metadata,
    )


def _page_items(page: PageContent, unreadable: list[str]) -> list:
    """The page's lines and tables in reading order; a page whose layout fails is reported, not fatal."""
    try:
        return reading_order(page)
    except Exception as exc:  # one damaged page must not lose the rest of the document
        log.warning("PDF page %d: layout failed: %s", page.number, _cause(exc))
        unreadable.append(f"page {page.number}: {_cause(exc)}")
        return []


def _check_envelope(data: bytes) -> None:
    """Cheap checks that name the problem better than pdfminer's errors would."""
    if not data:
        raise ParseError("empty file (0 bytes)")
    if b"%PDF-" not in data[:1024]:
        raise ParseError("corrupt PDF: no %PDF- header in the first 1 KB (not a PDF file)")
    if data.rfind(b"%%EOF") < 0:
        raise ParseError(f"corrupt PDF: truncated, no %%EOF end marker in {len(data):,} bytes")


def _open(data: bytes):
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        return pdfplumber.open(io.BytesIO(data))
    except Exception as exc:  # pdfplumber wraps pdfminer's errors; pdfminer raises many types
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        if isinstance(cause, PDFPasswordIncorrect):
            raise ParseError("encrypted PDF: a password is required to read it") from exc
        if isinstance(cause, PDFEncryptionError):
            raise ParseError(f"encrypted PDF: unsupported encryption ({cause})") from exc
        raise ParseError(f"corrupt PDF: {_cause(exc)}") from exc


def _cause(exc: Exception) -> str:
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    return f"{type(inner).__name__}: {inner}"[:300]


def _first_heading(pages: list[PageContent]) -> str:
    """The largest text on the first page with text."""
    for page in pages:
        if page.rows:
            biggest = max(page.rows, key=lambda r: max(w.size for w in r.words))
            return biggest.text[:120]
    return ""


def parse_pdf_file(path: Path) -> ParsedDocument | ParseError:
    """`parse_pdf` of a file; the error is returned, not raised, so a pool can hand it back."""
    try:
        return parse_pdf(Path(path).read_bytes())
    except ParseError as exc:
        return exc
    except OSError as exc:
        return ParseError(f"cannot read {path}: {exc}")


def parse_pdfs_parallel(paths: list[Path], workers: int) -> list[ParsedDocument | ParseError]:
    """Parse many PDFs in `workers` processes; results in the order of `paths`."""
    if workers <= 1 or len(paths) <= 1:
        return [parse_pdf_file(p) for p in paths]
    import multiprocessing

    # spawn, not fork: the caller (Dagster, a test server) may hold threads and locks a fork would copy
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(paths)), mp_context=context) as pool:
        futures = [pool.submit(parse_pdf_file, Path(p)) for p in paths]
        results: list[ParsedDocument | ParseError] = []
        for path, future in zip(paths, futures, strict=True):
            try:
                results.append(future.result())
            except BrokenProcessPool as exc:  # a worker killed (out of memory, a crash in a C library)
                results.append(ParseError(f"PDF worker process died while parsing {path}: {exc}"))
            except Exception as exc:  # a parser bug on one file: that file fails, the others are kept
                results.append(ParseError(f"unexpected {type(exc).__name__} while parsing {path}: {exc}"))
        return results
