"""PDFs built with reportlab for the ingest tests; each states the text it carries so tests can check it."""

import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

WIDTH, HEIGHT = A4  # 595 x 842 pt
HEADER = "EV Charging Handbook - Draft for review"
TITLE = "Charging at home and on the road"

# (page, lines) of the normal document; line 2 of page 1 ends in a hyphenated break.
NORMAL_BODY = {
    1: [
        "Home charging is the cheapest way to keep an electric car ready for the next day.",
        "A wall box on a dedicated circuit makes overnight charg-",
        "ing safe and predictable for most drivers.",
        "A plug-in hybrid needs far less energy than a battery electric car.",
    ],
    2: [
        "Public fast chargers deliver direct current straight to the battery pack.",
        "The battery management system limits the charging power as the cells fill up.",
        "Most drivers only need a fast charger on long trips across the country.",
    ],
    3: [
        "Workplace charging spreads the load on the grid across the whole day.",
        "Smart tariffs reward drivers who charge when demand on the grid is low.",
        "A plug-",
        "in hybrid can also use these tariffs when it is parked at work.",
    ],
}
PAGE2_SENTENCE = "The battery management system limits the charging power as the cells fill up."

LEFT_COLUMN = [f"Left column sentence {i} about alternating current charging." for i in range(1, 16)]
RIGHT_COLUMN = [f"Right column sentence {i} about direct current charging." for i in range(1, 16)]
TABLE_ROWS = [
    ["Connector", "Power (kW)", "Typical use"],
    ["CCS2", "350", "Highway fast charging"],
    ["Type 2", "22", "Destination charging"],
    ["CHAdeMO", "50", "Older vehicles"],
]


def _page_furniture(c: canvas.Canvas, page: int, pages: int) -> None:
    c.setFont("Helvetica", 9)
    c.drawString(72, HEIGHT - 40, HEADER)
    c.drawString(WIDTH / 2 - 30, 30, f"Page {page} of {pages}")


def normal_pdf() -> bytes:
    """Three pages with a repeated header and "Page N of 3" footer, one hyphenated break per page 1 and 3."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setTitle(TITLE)
    pages = len(NORMAL_BODY)
    for page, lines in NORMAL_BODY.items():
        _page_furniture(c, page, pages)
        y = HEIGHT - 100
        if page == 1:
            c.setFont("Helvetica-Bold", 16)
            c.drawString(72, y, TITLE)
            y -= 30
        c.setFont("Helvetica", 11)
        for line in lines:
            c.drawString(72, y, line)
            y -= 15
        c.showPage()
    c.save()
    return buffer.getvalue()


def two_column_pdf() -> bytes:
    """A full-width title over two columns whose lines sit at the same heights."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, HEIGHT - 80, "Two kinds of current: a comparison of AC and DC charging")
    c.setFont("Helvetica", 9)
    y = HEIGHT - 120
    for left, right in zip(LEFT_COLUMN, RIGHT_COLUMN, strict=True):
        c.drawString(50, y, left)
        c.drawString(WIDTH / 2 + 15, y, right)
        y -= 13
    c.showPage()
    c.save()
    return buffer.getvalue()


def table_pdf() -> bytes:
    """A paragraph, a ruled table, a paragraph."""
    from reportlab.platypus import Table, TableStyle

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setFont("Helvetica", 11)
    c.drawString(72, HEIGHT - 80, "Connectors differ in the power they can deliver to the car.")
    table = Table(TABLE_ROWS)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, (0, 0, 0)), ("FONTSIZE", (0, 0), (-1, -1), 10)]))
    _w, h = table.wrapOn(c, WIDTH - 144, HEIGHT)
    table.drawOn(c, 72, HEIGHT - 110 - h)
    c.setFont("Helvetica", 11)
    c.drawString(72, HEIGHT - 140 - h, "Choose the connector that your car supports before a long trip.")
    c.showPage()
    c.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, encrypt=StandardEncryption("user-secret", "owner-secret"))
    c.drawString(72, HEIGHT - 80, "Secret charging tariffs for the fleet.")
    c.showPage()
    c.save()
    return buffer.getvalue()


def image_only_pdf() -> bytes:
    """Two pages of filled shapes and an inline image: what a scan looks like to a text extractor."""
    from reportlab.lib.utils import ImageReader

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    pixels = bytes([(x * 7 + y * 3) % 256 for y in range(32) for x in range(32)])
    image = _gray_png(32, 32, pixels)
    for _page in range(2):
        for i in range(10):
            c.setFillGray(i / 10)
            c.rect(60 + i * 45, 300, 40, 300, fill=1, stroke=0)
        c.drawImage(ImageReader(io.BytesIO(image)), 100, 650, width=128, height=128)
        c.showPage()
    c.save()
    return buffer.getvalue()


def corrupt_pdf() -> bytes:
    """The first 60% of a good PDF: a download cut off mid-way."""
    data = normal_pdf()
    return data[: int(len(data) * 0.6)]


def _gray_png(width: int, height: int, pixels: bytes) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_bytes() -> bytes:
    return _gray_png(4, 4, bytes(range(16)))
