"""Document-level clean-up of PDF pages: running headers/footers removed, lines joined into paragraphs."""

import math
import re
from collections import Counter

from slm_assets.ingest.pdf_hyphens import Vocabulary, join_lines
from slm_assets.ingest.pdf_layout import Line, PageContent, TableBlock

BAND = 0.09  # share of the page height at the top and at the bottom where running headers/footers live
DIGITS = re.compile(r"\d+")
BULLET = re.compile(r"^(?:[\u2022\u25aa\u25e6\u2023\u2043*\u2013-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")
SENTENCE_END = set(".!?:;\"'\u201d)") | {""}
PARAGRAPH_GAP = 0.65  # vertical gap between lines, as a share of the font size, that starts a new paragraph


def furniture_key(text: str) -> str:
    """Header/footer text with digits normalised, so "Page 3 of 5" and "Page 4 of 5" are one key."""
    return DIGITS.sub("#", " ".join(text.lower().split()))


def remove_page_furniture(pages: list[PageContent]) -> list[str]:
    """Drop rows that recur in the top or bottom band of most pages; returns the keys removed."""
    with_text = [p for p in pages if p.rows]
    if len(with_text) < 2:
        return []
    seen: Counter[tuple[str, str]] = Counter()
    for page in with_text:
        seen.update({key for row in page.rows if (key := _band_key(page, row)) is not None})
    needed = max(2, math.ceil(0.5 * len(with_text)))
    recurring = {key for key, count in seen.items() if count >= needed}
    if not recurring:
        return []
    for page in with_text:
        page.rows = [row for row in page.rows if _band_key(page, row) not in recurring]
    return sorted({text for _zone, text in recurring})


def _band_key(page: PageContent, row) -> tuple[str, str] | None:
    if row.bottom <= page.height * BAND:
        return ("top", furniture_key(row.text))
    if row.top >= page.height * (1 - BAND):
        return ("bottom", furniture_key(row.text))
    return None


def page_paragraphs(items: list[Line | TableBlock], vocabulary: Vocabulary) -> list[str]:
    """Paragraphs (and Markdown tables) of one page from its lines in reading order."""
    blocks: list[str] = []
    current: list[Line] = []

    def flush() -> None:
        if current:
            blocks.append(join_lines([line.text for line in current], vocabulary))
            current.clear()

    for item in items:
        if isinstance(item, TableBlock):
            flush()
            blocks.append(item.markdown)
        else:
            if current and _starts_paragraph(current[-1], item):
                flush()
            current.append(item)
    flush()
    return [b for b in blocks if b.strip()]


def _starts_paragraph(previous: Line, line: Line) -> bool:
    size = max(previous.size, line.size, 1.0)
    if abs(line.size - previous.size) > 0.5 or BULLET.match(line.text):  # a heading, a list item
        return True
    if line.top < previous.top - 0.5 * size:
        # above the previous line: the next column. A sentence left unfinished at the bottom of the
        # left column goes on at the top of the right one.
        return previous.text.rstrip()[-1:] in SENTENCE_END
    return line.top - previous.bottom > PARAGRAPH_GAP * size
