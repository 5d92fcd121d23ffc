"""Characters of a PDF page as plain tuples, straight from pdfminer's interpreter.

pdfminer builds an `LTChar` object per character and pdfplumber then turns each into a dict of
~20 resolved attributes; together that is most of pdfplumber's run time. Text extraction needs
five numbers and a string per character, so this device records only those. The geometry is
LTChar's own (same bbox, same `upright` and `size`), in pdfplumber's coordinates (points from the
top-left of the page); vertical (CJK) fonts go through pdfminer's LTChar unchanged.
"""

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LTChar, LTContainer, LTPage
from pdfminer.pdffont import PDFUnicodeNotDefined
from pdfminer.pdfinterp import PDFPageInterpreter
from pdfminer.utils import apply_matrix_rect

# (x0, x1, top, bottom, text, size, upright)
Char = tuple[float, float, float, float, str, float, bool]


class _CharCollector(PDFPageAggregator):
    def __init__(self, rsrcmgr, pageno: int) -> None:
        super().__init__(rsrcmgr, pageno=pageno, laparams=None)
        self.raw: list[tuple[float, float, float, float, str, float, bool]] = []  # pdfminer y-up coordinates
        self.rulings = 0

    def render_char(self, matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate) -> float:
        if font.is_vertical():
            return super().render_char(matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate)
        try:
            text = font.to_unichr(cid)
        except PDFUnicodeNotDefined:
            text = self.handle_undefined_char(font, cid)
        adv = font.char_width(cid) * fontsize * scaling
        descent = font.get_descent() * fontsize
        a, b, c, d, _e, _f = matrix
        x0, y0, x1, y1 = apply_matrix_rect(matrix, (0, descent + rise, adv, descent + rise + fontsize))
        if x1 < x0:
            x0, x1 = x1, x0
        if y1 < y0:
            y0, y1 = y1, y0
        # upright: read left to right, top up. pdfminer's own test (a*d > 0) also calls text turned by
        # 180 degrees upright; its x runs backwards, so a > 0 and d > 0 are both required here
        self.raw.append((x0, x1, y0, y1, text, y1 - y0, a * scaling > 0 and d > 0 and b * c <= 0))
        return adv

    def paint_path(self, gstate, stroke, fill, evenodd, path) -> None:
        # kept as pdfminer objects (few per page): pdfplumber's table finder reads them
        self.rulings += sum(1 for op in path if op[0] == "m") or 1
        super().paint_path(gstate, stroke, fill, evenodd, path)


def page_chars(page, unrotated: bool = False) -> tuple[list[Char], int, LTPage]:
    """(characters, number of painted subpaths, pdfminer layout holding everything else) of a
    pdfplumber page. The layout has lines, rectangles and images but no horizontal characters.

    `unrotated` reads the page in its content's own frame, ignoring its /Rotate: a page whose text
    was drawn upright and then turned for display reads left to right there. Coordinates are then
    from the top-left corner of the unrotated media box (see `unrotated_size`)."""
    device = _CharCollector(page.pdf.rsrcmgr, page.page_number)
    rotate = page.page_obj.rotate
    if unrotated:
        page.page_obj.rotate = 0
    try:
        PDFPageInterpreter(page.pdf.rsrcmgr, device).process_page(page.page_obj)
    finally:
        page.page_obj.rotate = rotate
    if unrotated:
        height, mb_x0, mb_top = unrotated_size(page)[1], 0.0, 0.0
    else:
        height = float(page.height)
        mb_x0, mb_top = float(page.mediabox[0]), float(page.mediabox[1])
    chars = [(x0 + mb_x0, x1 + mb_x0, height - y1 + mb_top, height - y0 + mb_top, text, size, upright)
             for x0, x1, y0, y1, text, size, upright in device.raw]
    layout = device.get_result()
    stack: list = [layout]
    while stack:  # vertical-font characters, kept by pdfminer as LTChar objects
        for obj in stack.pop():
            if isinstance(obj, LTChar):
                chars.append((obj.x0 + mb_x0, obj.x1 + mb_x0, height - obj.y1 + mb_top, height - obj.y0 + mb_top,
                              obj.get_text(), obj.size, obj.upright))
            elif isinstance(obj, LTContainer):
                stack.append(obj)
    return chars, device.rulings, layout


def unrotated_size(page) -> tuple[float, float]:
    """(width, height) of the page's media box before its /Rotate is applied."""
    x0, y0, x1, y1 = (float(v) for v in page.page_obj.mediabox)
    return abs(x1 - x0), abs(y1 - y0)
