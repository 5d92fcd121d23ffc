"""Layout code on geometry that lies: words outside the page box, rotated pages, zero-width pages."""

import io
import math

import pytest
from reportlab.pdfgen import canvas

from slm_assets.ingest.documents import ParseError
from slm_assets.ingest.pdf import parse_pdf
from slm_assets.ingest.pdf_layout import PageContent, Row, Word, find_gutter, reading_order
from slm_assets.testing import pdfs

WIDTH = 595.0


def _two_column_rows(n: int = 10) -> list[Row]:
    return [Row(top=100.0 + 14 * i, bottom=110.0 + 14 * i,
                words=[Word(50, 150, "left", 9), Word(152, 280, "column", 9),
                       Word(315, 420, "right", 9), Word(422, 545, "column", 9)]) for i in range(n)]


@pytest.mark.parametrize("stray", [
    Word(WIDTH + 50, WIDTH + 90, "beyond-the-right-edge", 9),  # the IndexError found on a real PDF
    Word(-400, -300, "beyond-the-left-edge", 9),
    Word(2e9, 3e9, "far-away", 9),
    Word(math.nan, math.nan, "nan", 9),
    Word(-math.inf, math.inf, "everywhere", 9),
])
def test_find_gutter_survives_words_outside_the_page(stray):
    rows = _two_column_rows()
    rows.append(Row(top=300, bottom=310, words=[stray]))
    gutter = find_gutter(rows, WIDTH)
    if stray.text == "everywhere":  # a word spanning the page crosses the gutter; it is one of the allowed titles
        assert gutter is None or gutter[0] > 280
    else:
        assert gutter is not None and 280 <= gutter[0] < gutter[1] <= 315


@pytest.mark.parametrize("width", [0.0, -595.0, 5.0, math.nan, math.inf, 1e12])
def test_find_gutter_on_degenerate_page_widths_is_one_column(width):
    assert find_gutter(_two_column_rows(), width) is None


def test_reading_order_of_a_zero_width_page_keeps_every_line():
    rows = _two_column_rows(8)
    lines = reading_order(PageContent(number=1, width=0.0, height=0.0, rows=rows))
    assert [line.text for line in lines] == [row.text for row in rows]


def _pdf(pagesize, draw, rotation: int = 0) -> bytes:
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=pagesize)
    if rotation:
        c.setPageRotation(rotation)
    draw(c)
    c.showPage()
    c.save()
    return buffer.getvalue()


def _two_columns_and_text_off_the_page(c) -> None:
    c.setFont("Helvetica", 9)
    y = pdfs.HEIGHT - 120
    for left, right in zip(pdfs.LEFT_COLUMN, pdfs.RIGHT_COLUMN, strict=True):
        c.drawString(50, y, left)
        c.drawString(pdfs.WIDTH / 2 + 15, y, right)
        y -= 13
    c.drawString(pdfs.WIDTH + 60, 400, "A note printed beyond the right edge of the page.")
    c.drawString(-300, 380, "A note printed beyond the left edge.")


def test_pdf_with_text_outside_the_page_box_is_read():
    document = parse_pdf(_pdf(pdfs.A4, _two_columns_and_text_off_the_page))
    assert pdfs.LEFT_COLUMN[0] in document.text and pdfs.RIGHT_COLUMN[-1] in document.text
    assert "unreadable_pages" not in document.metadata


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_pages_are_read(rotation):
    document = parse_pdf(_pdf(pdfs.A4, _two_columns_and_text_off_the_page, rotation))
    assert pdfs.LEFT_COLUMN[0] in document.text and pdfs.RIGHT_COLUMN[-1] in document.text


@pytest.mark.parametrize("pagesize", [(0, 842), (595, 0), (0, 0)])
def test_zero_size_page_is_read_or_refused_by_name(pagesize):
    def draw(c) -> None:
        c.setFont("Helvetica", 11)
        for i in range(8):
            c.drawString(72, 700 - 15 * i, f"Line {i} of a page whose media box has no area.")

    try:
        document = parse_pdf(_pdf(pagesize, draw))
    except ParseError as exc:  # a clear refusal is fine; any other exception is a bug
        assert "PDF" in str(exc)
    else:
        assert "Line 0 of a page" in document.text
