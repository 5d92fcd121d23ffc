#!/usr/bin/env python
"""Render the sample PDF sources of the EV charging demo corpus, reproducibly.

Each ``samples/ev_charging/pdf_src/<name>.yaml`` file becomes
``samples/ev_charging/pdf/<name>.pdf``. Running the script twice produces
byte-identical files: ReportLab runs in invariant mode (fixed creation date and
document ID), only the standard PDF fonts are used (nothing is embedded), and
nothing depends on the clock, the environment or random numbers.

Usage::

    python scripts/make_sample_pdfs.py [--out DIR] [--src DIR]

Source schema (YAML)::

    title: str                      # required
    subtitle: str                   # optional
    doc_id: str                     # optional, shown under the title
    date: "YYYY-MM-DD"              # optional, shown under the title
    author: str                     # optional, shown under the title and stored as metadata
    layout: one_column | two_column # required
    running_header: str             # optional, printed at the top of every page
    running_footer: str             # optional, printed at the bottom of every page
                                    #   together with "Page N of M"
    sections:                       # required
      - heading: str
        blocks:                     # each block is a mapping with exactly one key
          - paragraph: str
          - bullets: [str, ...]
          - numbered: [str, ...]
          - note: str
          - table:
              caption: str          # optional
              header: [str, ...]
              rows: [[str, ...], ...]
              col_widths: [number, ...]  # optional, relative widths

In any text, ``{-}`` marks a soft hyphen: the word may be broken there across a
line, with a visible hyphen, and is printed whole otherwise. ``**x**`` prints x
in bold.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml
from reportlab import rl_config

rl_config.invariant = 1  # fixed creation date and document ID: reproducible bytes

from reportlab.lib import colors  # noqa: E402
from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.lib.units import mm  # noqa: E402
from reportlab.pdfgen import canvas as rl_canvas  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    FrameBreak,
    HRFlowable,
    KeepTogether,
    ListFlowable,
    ListItem,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

log = logging.getLogger("make_sample_pdfs")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = REPO_ROOT / "samples" / "ev_charging" / "pdf_src"
DEFAULT_OUT = REPO_ROOT / "samples" / "ev_charging" / "pdf"

PAGE_W, PAGE_H = A4
LEFT = RIGHT = 20 * mm
TOP = 22 * mm
BOTTOM = 20 * mm
GUTTER = 8 * mm
TITLE_BLOCK_H = 52 * mm  # height reserved for the title on page 1 of two-column documents

LAYOUTS = ("one_column", "two_column")
BLOCK_TYPES = ("paragraph", "bullets", "numbered", "note", "table")
SOFT_HYPHEN = "\u00ad"


# --------------------------------------------------------------------------- text


def markup(text: Any) -> str:
    """Escape text for a ReportLab Paragraph and apply the tiny inline syntax."""
    s = escape(" ".join(str(text).split()))
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    return s.replace("{-}", SOFT_HYPHEN)


def plain(text: Any) -> str:
    """Text for canvas drawing and metadata: no markup, no soft hyphens."""
    return " ".join(str(text).split()).replace("{-}", "")


# ------------------------------------------------------------------------- styles


def make_styles(two_column: bool) -> dict[str, ParagraphStyle]:
    body_font, size, leading = ("Times-Roman", 9.5, 11.8) if two_column else ("Helvetica", 10, 13.5)
    body = ParagraphStyle(
        "body",
        fontName=body_font,
        fontSize=size,
        leading=leading,
        alignment=TA_JUSTIFY if two_column else TA_LEFT,
        spaceAfter=5,
        embeddedHyphenation=1,
    )
    return {
        "title": ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=18, leading=22, spaceAfter=6),
        "subtitle": ParagraphStyle(
            "subtitle", fontName="Helvetica-Oblique", fontSize=11, leading=14, spaceAfter=6, textColor=colors.HexColor("#333333")
        ),
        "meta": ParagraphStyle("meta", fontName="Helvetica", fontSize=8.5, leading=11, textColor=colors.HexColor("#555555")),
        "h1": ParagraphStyle(
            "h1",
            fontName="Helvetica-Bold",
            fontSize=11.5 if two_column else 12.5,
            leading=14 if two_column else 15,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
            textColor=colors.HexColor("#0b4f3a"),
        ),
        "body": body,
        "list": ParagraphStyle("list", parent=body, spaceAfter=2, alignment=TA_LEFT),
        "note": ParagraphStyle(
            "note", parent=body, fontName="Helvetica-Oblique", fontSize=size - 0.5, leftIndent=8, borderPadding=4, spaceBefore=4
        ),
        "caption": ParagraphStyle(
            "caption", fontName="Helvetica-Bold", fontSize=8.5, leading=11, spaceBefore=4, spaceAfter=3, keepWithNext=1
        ),
        "caption_loose": ParagraphStyle(
            "caption_loose", fontName="Helvetica-Bold", fontSize=8.5, leading=11, spaceBefore=4, spaceAfter=3
        ),
        "cell": ParagraphStyle("cell", fontName="Helvetica", fontSize=7.8 if two_column else 8.5, leading=9.6 if two_column else 10.5),
        "cell_head": ParagraphStyle(
            "cell_head", fontName="Helvetica-Bold", fontSize=7.8 if two_column else 8.5, leading=9.6 if two_column else 10.5
        ),
    }


# -------------------------------------------------------------------- validation


def load_source(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    where = path.name
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: top level must be a mapping")
    for key in ("title", "layout", "sections"):
        if key not in spec:
            raise ValueError(f"{where}: missing required key {key!r}")
    if spec["layout"] not in LAYOUTS:
        raise ValueError(f"{where}: layout must be one of {LAYOUTS}, got {spec['layout']!r}")
    if not isinstance(spec["sections"], list) or not spec["sections"]:
        raise ValueError(f"{where}: sections must be a non-empty list")
    for i, sec in enumerate(spec["sections"]):
        if not isinstance(sec, dict) or "heading" not in sec or not isinstance(sec.get("blocks"), list):
            raise ValueError(f"{where}: section {i} needs 'heading' and a list of 'blocks'")
        for j, block in enumerate(sec["blocks"]):
            if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in BLOCK_TYPES:
                raise ValueError(f"{where}: section {i} block {j} must have exactly one key out of {BLOCK_TYPES}")
            if "table" in block:
                table = block["table"]
                if not isinstance(table, dict) or "header" not in table or "rows" not in table:
                    raise ValueError(f"{where}: section {i} block {j}: a table needs 'header' and 'rows'")
                width = len(table["header"])
                for r, row in enumerate(table["rows"]):
                    if len(row) != width:
                        raise ValueError(f"{where}: section {i} block {j}: row {r} has {len(row)} cells, header has {width}")
                    for cell in row:
                        if isinstance(cell, float):
                            # YAML turns 1.00 into 1.0; quoting keeps the text as written.
                            raise ValueError(f"{where}: section {i} block {j}: quote the number {cell!r} in row {r}")
                if "col_widths" in table and len(table["col_widths"]) != width:
                    raise ValueError(f"{where}: section {i} block {j}: col_widths does not match the header")
    for text in _strings(spec):
        try:
            text.encode("cp1252")
        except UnicodeEncodeError as exc:
            # The standard PDF fonts use WinAnsi encoding; ReportLab would draw such
            # characters (e.g. the Greek letters) from the Symbol font, and text
            # extraction then returns the wrong letters ("1 MW" for "1 MΩ").
            bad = text[exc.start : exc.end]
            raise ValueError(f"{where}: character {bad!r} cannot be extracted reliably; write it out in words") from None
    return spec


def _strings(node: Any):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


# --------------------------------------------------------------------- flowables


def make_table(spec: dict[str, Any], styles: dict[str, ParagraphStyle], avail_width: float) -> list:
    header = [Paragraph(markup(c), styles["cell_head"]) for c in spec["header"]]
    rows = [[Paragraph(markup(c), styles["cell"]) for c in row] for row in spec["rows"]]
    rel = spec.get("col_widths") or [1] * len(header)
    total = float(sum(rel))
    widths = [avail_width * w / total for w in rel]
    table = Table([header, *rows], colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8a969c")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7e4")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    if len(rows) <= 8:
        # Small tables stay in one piece, together with their caption.
        caption = [Paragraph(markup(spec["caption"]), styles["caption"])] if spec.get("caption") else []
        return [KeepTogether([*caption, table, Spacer(1, 6)])]
    # keepWithNext would glue the caption to the whole table and push both to the next page.
    caption = [Paragraph(markup(spec["caption"]), styles["caption_loose"])] if spec.get("caption") else []
    # Long tables may split across pages or columns; the header row repeats. Start a new
    # page only when too little room is left for the caption, the header and a few rows.
    return [CondPageBreak(45 * mm), *caption, table, Spacer(1, 6)]


def make_list(items: list, styles: dict[str, ParagraphStyle], numbered: bool) -> ListFlowable:
    flow_items = [ListItem(Paragraph(markup(x), styles["list"]), leftIndent=14) for x in items]
    if numbered:
        return ListFlowable(flow_items, bulletType="1", bulletFormat="%s.", leftIndent=14, bulletFontSize=9, spaceAfter=5)
    return ListFlowable(flow_items, bulletType="bullet", start="\u2022", leftIndent=14, bulletFontSize=8, spaceAfter=5)


def build_story(spec: dict[str, Any], styles: dict[str, ParagraphStyle], col_width: float) -> list:
    two_column = spec["layout"] == "two_column"
    story: list = [Paragraph(markup(spec["title"]), styles["title"])]
    if spec.get("subtitle"):
        story.append(Paragraph(markup(spec["subtitle"]), styles["subtitle"]))
    meta = [plain(spec[k]) for k in ("doc_id", "date", "author") if spec.get(k)]
    if meta:
        story.append(Paragraph(escape("  \u00b7  ".join(meta)), styles["meta"]))
    story.append(Spacer(1, 4))
    story.append(HRFlowable(width="100%", thickness=0.8, color=colors.HexColor("#0b4f3a"), spaceBefore=2, spaceAfter=8))
    if two_column:
        story += [NextPageTemplate("later"), FrameBreak()]

    for sec in spec["sections"]:
        heading = Paragraph(markup(sec["heading"]), styles["h1"])
        for n, block in enumerate(sec["blocks"]):
            kind, value = next(iter(block.items()))
            if kind == "paragraph":
                flows = [Paragraph(markup(value), styles["body"])]
            elif kind == "note":
                flows = [Paragraph(markup(value), styles["note"])]
            elif kind in ("bullets", "numbered"):
                flows = [make_list(value, styles, numbered=(kind == "numbered"))]
            else:
                flows = make_table(value, styles, col_width)
            if n == 0 and len(flows) == 1 and isinstance(flows[0], KeepTogether):
                # A heading directly followed by a small table: move them as one unit.
                story.append(KeepTogether([heading, *flows[0]._content]))
            elif n == 0:
                story += [heading, *flows]
            else:
                story += flows
        if not sec["blocks"]:
            story.append(heading)
    return story


# ------------------------------------------------------------ page furniture


def numbered_canvas_factory(header: str | None, footer: str | None):
    """A canvas that knows the total page count when it draws header and footer."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._page_states: list[dict] = []

        def showPage(self):  # noqa: N802 (ReportLab API)
            self._page_states.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._page_states)
            for state in self._page_states:
                self.__dict__.update(state)
                self._draw_furniture(total)
                super().showPage()
            super().save()

        def _draw_furniture(self, total: int) -> None:
            grey = colors.HexColor("#555555")
            self.saveState()
            self.setFillColor(grey)
            self.setStrokeColor(colors.HexColor("#9aa5aa"))
            self.setLineWidth(0.5)
            if header:
                y = PAGE_H - 13 * mm
                self.setFont("Helvetica", 8)
                self.drawString(LEFT, y, header)
                self.line(LEFT, y - 2.5 * mm, PAGE_W - RIGHT, y - 2.5 * mm)
            if footer:
                y = 11 * mm
                self.line(LEFT, y + 4 * mm, PAGE_W - RIGHT, y + 4 * mm)
                self.setFont("Helvetica", 8)
                self.drawString(LEFT, y, footer)
                self.drawRightString(PAGE_W - RIGHT, y, f"Page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


def make_doc(out_path: Path, spec: dict[str, Any]) -> tuple[BaseDocTemplate, float]:
    doc = BaseDocTemplate(
        str(out_path),
        pagesize=A4,
        leftMargin=LEFT,
        rightMargin=RIGHT,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        title=plain(spec["title"]),
        author=plain(spec.get("author", "ChargeGuide")),
        subject=plain(spec.get("subtitle", "")),
        creator="slm_assets scripts/make_sample_pdfs.py",
        keywords="electric vehicle charging; sample corpus; slm_assets",
        invariant=1,
    )
    full_w = PAGE_W - LEFT - RIGHT
    full_h = PAGE_H - TOP - BOTTOM
    if spec["layout"] == "one_column":
        frame = Frame(LEFT, BOTTOM, full_w, full_h, id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        doc.addPageTemplates([PageTemplate(id="one", frames=[frame])])
        return doc, full_w

    col_w = (full_w - GUTTER) / 2

    def columns(height: float, suffix: str) -> list[Frame]:
        pad = dict(leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        return [
            Frame(LEFT, BOTTOM, col_w, height, id=f"left{suffix}", **pad),
            Frame(LEFT + col_w + GUTTER, BOTTOM, col_w, height, id=f"right{suffix}", **pad),
        ]

    title_frame = Frame(
        LEFT, PAGE_H - TOP - TITLE_BLOCK_H, full_w, TITLE_BLOCK_H, id="title",
        leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0,
    )
    first = PageTemplate(id="first", frames=[title_frame, *columns(full_h - TITLE_BLOCK_H, "1")])
    later = PageTemplate(id="later", frames=columns(full_h, "2"))
    doc.addPageTemplates([first, later])
    return doc, col_w


def render(src: Path, out_dir: Path) -> Path:
    spec = load_source(src)
    out_path = out_dir / f"{src.stem}.pdf"
    doc, content_width = make_doc(out_path, spec)
    styles = make_styles(spec["layout"] == "two_column")
    story = build_story(spec, styles, content_width)
    header = plain(spec["running_header"]) if spec.get("running_header") else None
    footer = plain(spec["running_footer"]) if spec.get("running_footer") else None
    doc.build(story, canvasmaker=numbered_canvas_factory(header, footer))
    log.info("wrote %s (%d pages)", out_path, doc.page)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help=f"source directory (default: {DEFAULT_SRC})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    sources = sorted(list(args.src.glob("*.yaml")) + list(args.src.glob("*.yml")) + list(args.src.glob("*.json")))
    if not sources:
        log.error("no sources found in %s", args.src)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for src in sources:
        render(src, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
