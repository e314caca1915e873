"""What a PDF page holds before it is rendered: its text layer, as drawn, and its scans.

Read from PDFium's page objects and text page, which cost milliseconds a page; the
routing (``inputs.routing``) decides from these whether the engine must read the page.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

# Page objects nested deeper than this (forms in forms) are not looked into.
_MAX_DEPTH = 4
# A page whose largest image covers this much of it is a scan, read at its resolution.
SCAN_COVER = 0.5
# Characters of a line further apart than this share of the font size (their boxes
# by advance: letters of a word touch) are two words.
_WORD_GAP = 0.1
# Characters a font that lacks a Unicode mapping comes out as.
_NO_UNICODE_CATEGORIES = frozenset({"Co", "Cn", "Cs", "Cc"})


Box = tuple[float, float, float, float]  # left, bottom, right, top in points, y up


@dataclass(frozen=True)
class PageContent:
    """A PDF page's text layer and images, as PDFium sees them."""

    text: str  # the text layer, in content order
    visible_chars: int  # non-space characters drawn in a visible text render mode
    invisible_chars: int  # ... drawn invisibly (render mode 3: an OCR layer)
    undecodable_chars: int  # ... with no Unicode meaning (broken fonts, no ToUnicode)
    objects: int  # page objects drawn (0: nothing is on the page)
    image_cover: float  # share of the page's area under its largest image
    image_dpi: int | None  # that image's resolution on the page, if it has one
    text_boxes: tuple[Box, ...] = ()  # where the text layer's lines are
    size: tuple[float, float] = (0.0, 0.0)  # the page's width and height in points

    @property
    def chars(self) -> int:
        """Non-space characters in the text layer."""
        return self.visible_chars + self.invisible_chars

    @property
    def scanned(self) -> bool:
        """Whether the page is a scan: an image covers most of it."""
        return self.image_cover >= SCAN_COVER

    @property
    def undecodable_share(self) -> float:
        """The share of the text layer's characters that decode to nothing."""
        return self.undecodable_chars / self.chars if self.chars else 0.0


def page_content(page: Any) -> PageContent:
    """Analyse one open ``pypdfium2.PdfPage``."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        text, visible, invisible, undecodable = _read_chars(textpage, pdfium_c)
        boxes = tuple(textpage.get_rect(n) for n in range(textpage.count_rects()))
    finally:
        textpage.close()
    objects = pdfium_c.FPDFPage_CountObjects(page.raw)
    cover, dpi = _largest_image(page, pdfium_c)
    size = tuple(page.get_size())
    return PageContent(text, visible, invisible, undecodable, objects, cover, dpi, boxes, size)


def region_text(page: Any, box: Box) -> str:
    """The text layer's text inside ``box``."""
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_bounded(*box))
    finally:
        textpage.close()


def _read_chars(textpage: Any, pdfium_c: Any) -> tuple[str, int, int, int]:
    """The page's text, and how many of its characters are drawn visibly, invisibly,
    and without Unicode meaning.

    A space goes between two visible characters of a line that stand apart by more
    than ``_WORD_GAP`` of the font size: typesetters (groff, TeX) often place words by
    moving, not by a space character, which PDFium's own text then runs together. OCR
    layers (invisible) have their spaces, and glyphs narrower than their advance.
    """
    raw = textpage.raw
    chars: list[str] = []
    visible = invisible = undecodable = 0
    previous: tuple[float, float, float] | None = None  # right, bottom, top
    for index in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(raw, index)
        char = chr(code) if 0 < code < 0x110000 else "\ufffd"
        if char.isspace():
            chars.append(char)
            previous = None
            continue
        drawn_by = pdfium_c.FPDFText_GetTextObject(raw, index)
        mode = pdfium_c.FPDFTextObj_GetTextRenderMode(drawn_by) if drawn_by else 0
        shown = mode != pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
        left, bottom, right, top = textpage.get_charbox(index, loose=True)  # by advance
        gap = _WORD_GAP * pdfium_c.FPDFText_GetFontSize(raw, index)
        on_line = previous is not None and bottom < previous[2] and top > previous[1]
        if shown and on_line and previous is not None and left - previous[0] > gap:
            chars.append(" ")
        previous = (right, bottom, top)
        chars.append(char)
        if _undecodable(char) or pdfium_c.FPDFText_HasUnicodeMapError(raw, index) == 1:
            undecodable += 1
        visible += shown
        invisible += not shown
    return "".join(chars), visible, invisible, undecodable


def _undecodable(char: str) -> bool:
    return char == "\ufffd" or unicodedata.category(char) in _NO_UNICODE_CATEGORIES


def _largest_image(page: Any, pdfium_c: Any) -> tuple[float, int | None]:
    """The share of the page the largest image covers, and its resolution there."""
    width, height = page.get_size()
    area = max(width * height, 1.0)
    best_cover, best_dpi = 0.0, None
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=_MAX_DEPTH):
        left, bottom, right, top = image.get_bounds()
        shown_w = max(0.0, min(right, width) - max(left, 0.0))
        shown_h = max(0.0, min(top, height) - max(bottom, 0.0))
        cover = shown_w * shown_h / area
        if cover <= best_cover:
            continue
        pixels = max(image.get_px_size())
        extent = max(right - left, top - bottom)
        best_cover = cover
        best_dpi = round(pixels * 72 / extent) if pixels and extent > 0 else None
    return min(best_cover, 1.0), best_dpi
