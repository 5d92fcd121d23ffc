"""One PDF page -> rows of words -> lines in reading order (two columns read left then right).

Characters come from `pdf_chars` (pdfminer's interpreter, one tuple per character), not from
pdfplumber's `page.chars`, which costs a dict of ~20 resolved attributes per character: about
two thirds of pdfplumber's run time. pdfplumber's object model is built only for pages with
enough ruling lines to hold a table, where its table finder needs it.
Coordinates are pdfplumber's: points from the top-left corner of the page.
"""

import math
import re
from dataclasses import dataclass, field

from slm_assets.ingest.html import rows_to_markdown
from slm_assets.ingest.pdf_chars import page_chars, unrotated_size
from slm_assets.ingest.pdf_hyphens import Vocabulary, join_lines

LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                           "\ufb05": "st", "\ufb06": "st", "\u00a0": " "})
MIN_RULINGS_FOR_TABLE = 4  # lines/rects on a page before the table finder runs; a rule or a box is not a table
WORD_GAP = 0.2  # a gap wider than this share of the font size between two characters starts a new word
ROW_TOLERANCE = 0.4  # characters whose baselines differ by less than this share of their size share a row
MAX_PAGE_WIDTH = 14_400  # points: the largest page the PDF specification allows (200 inches)


@dataclass(slots=True)
class Word:
    x0: float
    x1: float
    text: str
    size: float


@dataclass(slots=True)
class Row:
    """Words at one height across the whole page; a two-column page splits it at the gutter later."""

    top: float
    bottom: float
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(slots=True)
class Line:
    """Text of one row within one column."""

    top: float
    bottom: float
    x0: float
    size: float
    text: str


@dataclass(slots=True)
class TableBlock:
    top: float
    bottom: float
    x0: float
    x1: float
    markdown: str


@dataclass
class PageContent:
    number: int
    width: float
    height: float
    rows: list[Row]
    tables: list[TableBlock] = field(default_factory=list)
    two_columns: bool = False


def read_page(page, number: int) -> PageContent:
    """Rows of words and tables (as Markdown, their characters removed from the rows) of one page."""
    chars, rulings, layout = page_chars(page)
    width, height = float(page.width), float(page.height)
    upright = sum(1 for c in chars if c[6])
    if upright * 2 < len(chars) and page.rotation:
        # a /Rotate page whose text reads upright only before the rotation: read it in that frame
        # (pdfplumber's table finder works in the rotated frame, so no tables are looked for there)
        turned = page_chars(page, unrotated=True)[0]
        turned_upright = sum(1 for c in turned if c[6])
        if turned_upright > upright:
            chars, upright, rulings = turned, turned_upright, 0
            width, height = unrotated_size(page)
    if upright * 2 >= len(chars):  # rotated watermarks and margin labels go; a rotated page keeps its text
        chars = [c for c in chars if c[6]]
    tables: list[TableBlock] = []
    if rulings >= MIN_RULINGS_FOR_TABLE:
        # pdfplumber's table finder works from lines and rectangles only; handing it the layout
        # without characters spares it a dict per character. Cell text comes from our characters.
        page._layout = layout
        tables = _tables(page, chars)
        chars = [c for c in chars if not _inside_any(c, tables)]
    return PageContent(number=number, width=width, height=height, rows=_rows(chars), tables=tables)


def _inside_any(char: tuple, tables: list[TableBlock]) -> bool:
    cx, cy = (char[0] + char[1]) / 2, (char[2] + char[3]) / 2
    return any(t.x0 <= cx <= t.x1 and t.top <= cy <= t.bottom for t in tables)


def _tables(page, chars: list[tuple]) -> list[TableBlock]:
    blocks = []
    for table in page.find_tables():
        x0, top, x1, bottom = table.bbox
        inside = [c for c in chars if x0 <= (c[0] + c[1]) / 2 < x1 and top <= (c[2] + c[3]) / 2 < bottom]
        rows = [[_cell_text(inside, cell) for cell in row.cells] for row in table.rows]
        rows = [r for r in rows if any(r)]
        if len(rows) < 2 or max(len(r) for r in rows) < 2:  # a framed paragraph, not a table
            continue
        blocks.append(TableBlock(top=top, bottom=bottom, x0=x0, x1=x1, markdown=rows_to_markdown(rows)))
    return blocks


def _cell_text(chars: list[tuple], cell: tuple | None) -> str:
    """Text of the characters centred in a cell (pdfplumber's rule), lines joined by spaces."""
    if cell is None:  # spanned by a merged neighbour
        return ""
    x0, top, x1, bottom = cell
    mine = [c for c in chars if x0 <= (c[0] + c[1]) / 2 < x1 and top <= (c[2] + c[3]) / 2 < bottom]
    lines = [row.text for row in _rows(mine)]
    return join_lines(lines, Vocabulary()).replace("|", "/").strip() if lines else ""


def _rows(chars: list[tuple]) -> list[Row]:
    """Group characters into rows by baseline, then into words by the gaps between them."""
    rows: list[Row] = []
    group: list[tuple] = []
    for char in sorted(chars, key=lambda c: c[3]):
        if group and char[3] - group[0][3] > ROW_TOLERANCE * max(group[0][5], 1.0):
            rows.append(_row(group))
            group = []
        group.append(char)
    if group:
        rows.append(_row(group))
    return [r for r in rows if r.words]


def _row(chars: list[tuple]) -> Row:
    chars.sort(key=lambda c: c[0])
    words: list[Word] = []
    text: list[str] = []
    start = end = 0.0
    size = 0.0
    for x0, x1, _top, _bottom, ch, char_size, _up in chars:
        if ch.isspace() or (text and x0 - end > WORD_GAP * max(char_size, 1.0)):
            if text:
                words.append(Word(start, end, "".join(text).translate(LIGATURES), size))
                text = []
            if ch.isspace():
                continue
        if text:
            end = max(end, x1)
        else:
            start, end, size = x0, x1, char_size
        text.append(ch)
    if text:
        words.append(Word(start, end, "".join(text).translate(LIGATURES), size))
    return Row(top=min(c[2] for c in chars), bottom=max(c[3] for c in chars), words=words)


def find_gutter(rows: list[Row], width: float) -> tuple[float, float] | None:
    """The empty vertical band between two text columns, or None for a one-column page.

    Counts, for each x in the middle half of the page, the words covering it; a two-column page has
    a run of (nearly) uncovered x there, crossed only by full-width titles (a one-column page has
    most of its rows crossing every x there). Both sides must hold full lines of text, so a form of
    short labels and values or a list of short lines is not taken for columns.
    """
    if len(rows) < 6 or not math.isfinite(width) or not 12 <= width <= MAX_PAGE_WIDTH:  # no room for a gutter, or no real page
        return None
    size = int(width) + 2
    diff = [0] * (size + 1)
    for row in rows:
        for w in row.words:
            # words outside the page box (a bad crop box, a rotated page, text pushed off the edge)
            # are clamped into it, so they can only make a gutter less likely, never index past it
            x0, x1 = _clamp(w.x0, size), _clamp(w.x1, size)
            diff[min(x0, x1)] += 1
            diff[min(max(x0, x1) + 1, size)] -= 1
    cover, running = [], 0
    for delta in diff:
        running += delta
        cover.append(running)
    allowed = max(1, len(rows) // 6)  # titles, subtitles and bylines may run across the gutter
    lo, hi = int(width * 0.25), int(width * 0.75)
    best: tuple[int, int] | None = None
    start = None
    for x in range(lo, hi + 1):
        if cover[x] <= allowed and x < hi:
            start = x if start is None else start
        elif start is not None:
            if best is None or x - start > best[1] - best[0]:
                best = (start, x)
            start = None
    if best is None or best[1] - best[0] < 6:
        return None
    g0, g1 = best
    left = [r for r in rows if any(w.x1 <= g0 for w in r.words)]
    right = [r for r in rows if any(w.x0 >= g1 for w in r.words)]
    if len(left) < 0.3 * len(rows) or len(right) < 0.3 * len(rows):
        return None
    left_margin = min(w.x0 for r in left for w in r.words)
    right_margin = max(w.x1 for r in right for w in r.words)
    left_widths = sorted(max(w.x1 for w in r.words if w.x1 <= g0) - left_margin for r in left)
    right_widths = sorted(right_margin - min(w.x0 for w in r.words if w.x0 >= g1) for r in right)
    if left_widths[len(left_widths) // 2] < 0.6 * (g0 - left_margin):
        return None
    if right_widths[len(right_widths) // 2] < 0.6 * (right_margin - g1):
        return None
    return float(g0), float(g1)


def _clamp(x: float, size: int) -> int:
    """`x` as an index in 0..size; NaN and infinities included."""
    if x != x:  # NaN
        return 0
    return int(min(max(x, 0.0), float(size)))


def reading_order(content: PageContent) -> list[Line | TableBlock]:
    """Lines and tables of a page in reading order: on a two-column page, each run of rows between
    full-width rows is read left column first, then right column. Paragraph breaks are decided
    later from the geometry (a line above the previous one is a column change)."""
    gutter = find_gutter(content.rows, content.width)
    content.two_columns = gutter is not None
    items: list[Row | TableBlock] = sorted([*content.rows, *content.tables], key=lambda item: item.top)
    if gutter is None:
        return [_line(item, item.words) if isinstance(item, Row) else item for item in items]
    g0, g1 = gutter
    middle = (g0 + g1) / 2
    out: list[Line | TableBlock] = []
    left: list[Line | TableBlock] = []
    right: list[Line | TableBlock] = []

    def flush() -> None:
        if left or right:
            out.extend([*left, *right])
            left.clear()
            right.clear()

    for item in items:
        if isinstance(item, TableBlock):
            if item.x0 < g0 - 1 and item.x1 > g1 + 1:
                flush()
                out.append(item)
            else:
                (left if (item.x0 + item.x1) / 2 < middle else right).append(item)
        elif any(w.x0 < g1 and w.x1 > g0 for w in item.words):  # a full-width title ends the column region
            flush()
            out.append(_line(item, item.words))
        else:
            side_left = [w for w in item.words if w.x1 <= middle]
            side_right = [w for w in item.words if w.x1 > middle]
            if side_left:
                left.append(_line(item, side_left))
            if side_right:
                right.append(_line(item, side_right))
    flush()
    return out


def _line(row: Row, words: list[Word]) -> Line:
    texts = [w.text for w in words]
    if CID_GLYPH.fullmatch(texts[0]) and len(texts) > 1:  # a bullet glyph the font gives no Unicode for
        texts[0] = "-"
    return Line(top=row.top, bottom=row.bottom, x0=words[0].x0, size=max(w.size for w in words), text=" ".join(texts))


CID_GLYPH = re.compile(r"\(cid:\d+\)")
