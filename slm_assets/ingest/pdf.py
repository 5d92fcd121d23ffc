"""PDF to text with pdfplumber, keeping which page each block came from."""

import io

from slm_assets.ingest.documents import ParsedDocument, ParseError
from slm_assets.ingest.html import rows_to_markdown


def parse_pdf(data: bytes) -> ParsedDocument:
    """Text of every page (tables as Markdown), with (page, start, end) spans for attribution."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    if not data:
        raise ParseError("empty file (0 bytes)")
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFPasswordIncorrect as exc:
        raise ParseError("encrypted PDF: a password is required") from exc
    except (PDFSyntaxError, Exception) as exc:  # pdfminer raises many types for broken files
        raise ParseError(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    parts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    offset = 0
    with pdf:
        title = (pdf.metadata or {}).get("Title") or ""
        for number, page in enumerate(pdf.pages, start=1):
            tables = page.find_tables()
            outside = page
            for table in tables:
                outside = outside.outside_bbox(table.bbox)
            page_text = (outside.extract_text() or "").strip()
            for table in tables:
                rows = [[(c or "").replace("\n", " ").strip() for c in row] for row in table.extract()]
                page_text += "\n\n" + rows_to_markdown(rows)
            page_text = page_text.strip()
            if not page_text:
                continue
            if parts:
                offset += 2
            spans.append((number, offset, offset + len(page_text)))
            parts.append(page_text)
            offset += len(page_text)
        page_count = len(pdf.pages)
    text = "\n\n".join(parts)
    if not text.strip():
        raise ParseError(f"no text layer on any of {page_count} pages (scanned or image-only PDF)")
    if not title:
        title = text.strip().split("\n", 1)[0][:120]
    return ParsedDocument(title=title, text=text, parser="pdf", page_count=page_count, page_spans=spans)
