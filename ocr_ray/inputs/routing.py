"""Which path each page takes: its own text layer, blank, or the engine, and at what
resolution the engine reads it. Decided before the engine runs, from cheap facts.

The thresholds below were measured; benchmarks/bench_mixed.py and the README say how.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from ocr_ray.accuracy import cer
from ocr_ray.inputs.pdf_page import Box, PageContent
from ocr_ray.models import PageSource, TextLayerMode

# A text layer with fewer letters and digits than this is absent (page numbers, marks).
MIN_TEXT_LAYER_CHARS = 20
# A layer where more of its characters than this have no Unicode is undecodable.
MAX_UNDECODABLE_SHARE = 0.05
# An earlier tool's invisible OCR text is kept when at least this share of its letters
# are in plausible words; below it the page is read again (as OCRmyPDF's --redo-ocr).
MIN_PLAUSIBLE_SHARE = 0.9
# ... and lie over this share of the page's ink; less means text the earlier OCR missed.
MIN_INK_COVERED = 0.6
# ... and the engine's reading of a band of its lines may differ from it by at most this
# (CER): of 32 layers measured (README), those kept were 0.0-3.6 % apart, and the poor
# one only this check caught, 41 %.
MAX_SAMPLE_CER = 0.08
SAMPLE_MIN_LINES = 3
# Scans finer than this are averaged down to it before they are read. Measured on 600
# dpi renders of ten corpus pages (clean / degraded, CER and seconds a page): read at
# 300 after box-averaging, 0.0117 / 0.0134 in 1.8 s; at 400, 0.0130 / 0.0133 in 2.4 s;
# at 600, 0.0176 / 0.0149 in 3.9-4.7 s; PDFium's own rendering at 300, 0.0122 / 0.0178.
MAX_READ_DPI = 300
# Ink is anything this much darker than the paper, looked for at about 75 dpi
# (box-averaged, so scanner noise and dust vanish while strokes stay); a page with
# less ink than BLANK_MAX_INK_MM2 (a speck or two, less than one character) is blank.
_INK_CONTRAST = 48
THUMBNAIL_DPI = 75
BLANK_MAX_INK_MM2 = 0.5
_WORD_EDGES = "\"'()[]{}<>«»“”\u2018\u2019.,;:!?*-\u2013\u2014/"
_PLAUSIBLE = re.compile(
    "[^\\W\\d_]+(?:['\u2019\\-][^\\W\\d_]+)*"  # a word, with inner apostrophes or hyphens
    r"|[+\-]?\d+(?:[.,:/\-]\d+)*%?"  # a number, a date, a time
    r"|\d+(?:st|nd|rd|th|s)"  # 1st, 1990s
)


@dataclass(frozen=True)
class Route:
    """Where a page's text comes from, and why."""

    source: PageSource
    reason: str


class PageLook(Protocol):
    """The looks at a PDF page that judging its text layer may take."""

    def thumbnail(self) -> Image.Image:
        """The page at ``THUMBNAIL_DPI``."""

    def read_back(self, box: Box) -> tuple[str, str]:
        """The engine's text of the region ``box`` (points, y up), and the layer's."""


def layer_route(content: PageContent | None, mode: TextLayerMode, look: PageLook) -> Route:
    """Whether a page's own text layer is used (``text_layer``) or the engine reads it
    (``ocr``), and why.

    ``auto`` uses a visible, decodable layer as it is. An invisible layer (an earlier
    tool's OCR), or any layer on a scan, is used only if its words are plausible, lie
    over the page's ink, and read back: the engine reads a band of its lines and
    agrees with it. Poor OCR garbles words, misses text, or misreads it. ``use``
    takes any decodable layer; ``ocr`` none.
    """
    if content is None:
        return Route(PageSource.ocr, "an image")
    if mode == "ocr":
        return Route(PageSource.ocr, "every page is read (--text-layer ocr)")
    if content.chars < MIN_TEXT_LAYER_CHARS:
        return Route(PageSource.ocr, "no text layer")
    if content.undecodable_share > MAX_UNDECODABLE_SHARE:
        return Route(
            PageSource.ocr,
            f"its text layer cannot be decoded ({content.undecodable_share:.0%} of its "
            "characters have no Unicode meaning)",
        )
    if sum(char.isalnum() for char in content.text) < MIN_TEXT_LAYER_CHARS:
        return Route(PageSource.ocr, "no text layer (marks only)")
    visible = content.visible_chars >= content.invisible_chars
    if mode == "use" or (visible and not content.scanned):
        return Route(
            PageSource.text_layer, "its visible text layer" if visible else "its text layer"
        )
    kind = "the visible text layer on its scan" if visible else "an earlier OCR layer"
    share, covered = plausible_share(content.text), ink_covered(look.thumbnail(), content)
    judged = f"{kind}: {share:.0%} plausible words, over {covered:.0%} of the ink"
    if share < MIN_PLAUSIBLE_SHARE or covered < MIN_INK_COVERED:
        return Route(PageSource.ocr, f"{judged}, judged poor")
    band = sample_band(content)
    if band is None:  # a few huge boxes, as poor OCR gives, or very little text
        return Route(PageSource.ocr, f"{judged}, in too few lines to check")
    engine_text, layer_text = look.read_back(band)
    apart = cer(layer_text, engine_text)
    judged += f", {apart:.1%} apart from the engine on a sample"
    if apart > MAX_SAMPLE_CER:
        return Route(PageSource.ocr, f"{judged}, judged poor")
    return Route(PageSource.text_layer, judged)


def sample_band(content: PageContent) -> Box | None:
    """A band across the page holding its middle lines (a sixth of them, at least
    ``SAMPLE_MIN_LINES``), cut halfway to the lines beside it, where the engine checks
    the layer; None when there are fewer lines."""
    lines = text_lines(content.text_boxes)
    if len(lines) < SAMPLE_MIN_LINES:
        return None
    count = max(SAMPLE_MIN_LINES, len(lines) // 6)
    first = (len(lines) - count) // 2
    last = first + count - 1
    top = lines[first][1] + 2.0 if first == 0 else (lines[first][1] + lines[first - 1][0]) / 2
    below = lines[last + 1][1] if last + 1 < len(lines) else lines[last][0] - 4.0
    return (0.0, (lines[last][0] + below) / 2, content.size[0], top)


def text_lines(boxes: tuple[Box, ...]) -> list[tuple[float, float]]:
    """The (bottom, top) of each line the boxes (words or lines) make, top first."""
    lines: list[list[float]] = []
    for _, bottom, _, top in sorted(boxes, key=lambda box: -box[3]):
        if lines and bottom < lines[-1][1] and top > lines[-1][0]:  # overlaps the line
            lines[-1] = [min(bottom, lines[-1][0]), max(top, lines[-1][1])]
        else:
            lines.append([bottom, top])
    return [(bottom, top) for bottom, top in lines]


def plausible_share(text: str) -> float:
    """The share of the text's characters that are in plausible words or numbers.

    Poor OCR leaves tokens no writing has: letters mixed with digits or symbols
    (``tl1e``, ``w#rd``), stray punctuation runs. Language-neutral on purpose: it
    knows no dictionary, only what a word of letters or a number looks like.
    """
    total = plausible = 0
    for token in text.split():
        core = token.strip(_WORD_EDGES)
        total += len(token)
        if core and _PLAUSIBLE.fullmatch(core) and not _mixed_case(core):
            plausible += len(token)
    return plausible / total if total else 0.0


def _mixed_case(word: str) -> bool:
    """A capital after a small letter (``tHe``), which print rarely has."""
    return any(a.islower() and b.isupper() for a, b in itertools.pairwise(word))


def blank_route(image: Image.Image, dpi: int | None) -> Route | None:
    """The blank route when the page carries no ink worth reading, else None."""
    dpi = dpi or 300
    factor = max(1, round(dpi / THUMBNAIL_DPI))
    grey = image.convert("L")  # bitonal images cannot be reduced as they are
    ink = int(_ink(grey.reduce(factor) if factor > 1 else grey).sum())
    pixel_mm = 25.4 * factor / dpi
    area = ink * pixel_mm * pixel_mm
    if area >= BLANK_MAX_INK_MM2:
        return None
    return Route(PageSource.blank, f"no ink ({area:.2f} mm² darker than the paper)")


def ink_covered(thumbnail: Image.Image, content: PageContent) -> float:
    """The share of the page's ink (``thumbnail`` at ``THUMBNAIL_DPI``) that lies
    under the text layer's lines, each widened by a millimetre."""
    ink = _ink(thumbnail)
    total = int(ink.sum())
    if not total:
        return 1.0
    scale = thumbnail.width / content.size[0] if content.size[0] else THUMBNAIL_DPI / 72
    lines = Image.new("1", thumbnail.size, 0)
    draw = ImageDraw.Draw(lines)
    margin = 72 / 25.4
    height = content.size[1]
    for left, bottom, right, top in content.text_boxes:
        box = (left - margin, height - top - margin, right + margin, height - bottom + margin)
        draw.rectangle([v * scale for v in box], fill=1)
    return float((ink & np.asarray(lines, dtype=bool)).sum()) / total


def _ink(image: Image.Image) -> np.ndarray:
    """Which pixels are ink: much darker than the paper (the page's lighter tenth)."""
    grey = np.asarray(image.convert("L"))
    paper = int(np.percentile(grey, 90))
    return grey < paper - _INK_CONTRAST


def reading_dpi(own: int | None, rendering: int, *, rendered: bool) -> int | None:
    """The resolution a page is read at (None: the engine estimates it).

    A rendered (PDF) page: at its scan's own resolution, between the job's rendering
    resolution and the ceiling; an image: as it is, up to the ceiling. The ceiling is
    ``MAX_READ_DPI``, or the rendering resolution if that is higher.
    """
    ceiling = max(rendering, MAX_READ_DPI)
    if not rendered:
        return min(own, ceiling) if own else None
    return min(max(own or rendering, rendering), ceiling)
