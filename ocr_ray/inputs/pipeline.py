"""Per-page stages, free of Ray: open -> render -> (text layer | recognise) -> assemble."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from ocr_ray.exceptions import OcrTimeoutError
from ocr_ray.inputs.documents import Document, Kind, open_document
from ocr_ray.inputs.pdf_page import Box, PageContent
from ocr_ray.inputs.routing import (
    THUMBNAIL_DPI,
    Route,
    blank_route,
    layer_route,
    reading_dpi,
)
from ocr_ray.models import PageResult, PageSource, PageWarning, TextLayerMode
from ocr_ray.plugins import Engine, PageText
from ocr_ray.wordboxes import pack

# Tesseract reads lines tilted less than this about as well as level ones (measured);
# beyond the upper bound the "tilt" is more likely a layout quirk than a skewed scan.
MIN_DESKEW_DEG = 0.5
MAX_DESKEW_DEG = 10.0
# Points of mean word confidence (0-100) a turned reading must gain to be kept; turned
# pages of the corpus gain 53 or more (or read as well, no longer sideways).
TURN_MARGIN = 10.0


@dataclass(frozen=True)
class ReadOptions:
    """How each page is read; the same for every page of a job."""

    dpi: int
    text_layer: TextLayerMode = "auto"
    rotate: bool = True
    low_confidence: float = 60.0
    hocr: bool = False
    deskew: bool = False


@dataclass(frozen=True)
class ReadPage:
    """A page's record plus its hOCR element (when asked) for the document formats."""

    result: PageResult
    hocr: str | None = None
    leveled: Image.Image | None = None  # the deskewed image the text was read from
    own_dpi: int | None = None  # an image read smaller than it is: its own resolution
    replaces_layer: bool = False  # read again over an earlier invisible OCR layer


@dataclass(frozen=True)
class PageRange:
    """Pages ``first`` to ``last`` (0-based, inclusive) of one file."""

    path: str
    kind: Kind
    first: int
    last: int

    @property
    def count(self) -> int:
        """How many pages the range holds."""
        return self.last - self.first + 1


def read_pages(
    unit: PageRange,
    *,
    engine: Engine,
    options: ReadOptions,
    timeout_s: float,
    source: str | None = None,
) -> list[ReadPage]:
    """OCR every page of ``unit`` within ``timeout_s`` seconds (``source``: see
    ``open_document``)."""
    with (
        deadline(timeout_s, unit.path),
        open_document(unit.path, unit.kind, dpi=options.dpi, source=source) as doc,
    ):
        return [
            read_page(doc, index, engine=engine, options=options)
            for index in range(unit.first, unit.last + 1)
        ]


def read_page(doc: Document, index: int, *, engine: Engine, options: ReadOptions) -> ReadPage:
    """One page by the cheapest path that keeps its text: its own text layer, blank,
    or the engine reading the upright page (see ``inputs.routing``)."""
    content = doc.content(index)
    look = _Look(doc, index, engine, options)
    route = layer_route(content, options.text_layer, look)
    if content is not None:  # a PDF page: routed before it is rendered for reading
        unread = _unread_pdf_page(content, route, look)
        if unread is not None:
            return unread
    image, dpi, own = _reading_image(doc, index, options)
    no_ink = blank_route(image, dpi) if content is None else None
    if no_ink is not None:
        inches = (image.width / (dpi or 300), image.height / (dpi or 300))
        return _page(index, no_ink, inches, options, dpi=dpi)
    page, rotation, read, leveled = _engine_reads(engine, image, dpi, index, options)
    warnings = page_warnings(page, options.low_confidence)
    result = PageResult(
        number=index + 1,
        text=page.text,
        confidence=None if PageWarning.blank_page in warnings else page.confidence,
        reason=route.reason,
        rotation=rotation,
        deskew=round(page.skew, 2) if leveled else 0.0,
        dpi=dpi,
        warnings=warnings,
        words=pack(page.words, read.size),
    )
    replaces = content is not None and content.invisible_chars > 0
    return ReadPage(result, page.hocr, read if leveled else None, own, replaces)


def _unread_pdf_page(content: PageContent, route: Route, look: _Look) -> ReadPage | None:
    """The PDF page as its text layer gives it, or as blank; None: the engine reads it."""
    size = (content.size[0] / 72, content.size[1] / 72)  # inches
    index, options = look.index, look.options
    if route.source is PageSource.text_layer:
        return _page(index, route, size, options, text=content.text)
    if content.objects == 0:
        return _page(index, Route(PageSource.blank, "nothing is drawn on the page"), size, options)
    blank = blank_route(look.thumbnail(), THUMBNAIL_DPI)
    return _page(index, blank, size, options) if blank is not None else None


def _engine_reads(
    engine: Engine, image: Image.Image, dpi: int | None, index: int, options: ReadOptions
) -> tuple[PageText, int, Image.Image, bool]:
    """The engine's reading of the page turned upright and levelled as asked; how far
    it was turned, the image it was read from (its words' boxes are in its pixels), and
    whether that was levelled."""
    page, rotation, upright = _read_upright(engine, image, dpi, index, options)
    page, leveled = _read_level(engine, page, upright, dpi, index, options)
    return page, rotation, leveled or upright, leveled is not None


@dataclass
class _Look:
    """How routing looks at a PDF page (``routing.PageLook``): renders made once."""

    doc: Document
    index: int
    engine: Engine
    options: ReadOptions

    @functools.cached_property
    def _thumbnail(self) -> Image.Image:
        return self.doc.page_image(self.index, THUMBNAIL_DPI)

    def thumbnail(self) -> Image.Image:
        return self._thumbnail

    def read_back(self, box: Box) -> tuple[str, str]:
        own = self.doc.page_dpi(self.index)
        dpi = reading_dpi(own, self.options.dpi, rendered=True)
        image = self.doc.page_image(self.index, dpi, box)
        read = self.engine.recognize(image, dpi=dpi, page=self.index)
        return read.text, self.doc.region_text(self.index, box)


def _page(
    index: int,
    route: Route,
    inches: tuple[float, float],
    options: ReadOptions,
    *,
    text: str = "",
    dpi: int | None = None,
) -> ReadPage:
    """A page the engine did not read; a blank one is flagged as any blank page is.

    With hOCR asked for, it gets a page element without words, so the document
    formats keep every page (its own text stays in the PDF's layer and the record).
    """
    blank = route.source is PageSource.blank
    result = PageResult(
        number=index + 1,
        text=text,
        source=route.source,
        reason=route.reason,
        dpi=dpi,
        warnings=[PageWarning.blank_page] if blank else [],
    )
    if not options.hocr:
        return ReadPage(result)
    res = dpi or options.dpi
    width, height = round(inches[0] * res), round(inches[1] * res)
    hocr = (
        f"<div class='ocr_page' id='page_{index + 1}' title='image \"\"; bbox 0 0 {width} "
        f"{height}; ppageno {index}; scan_res {res} {res}'>\n</div>\n"
    )
    return ReadPage(result, hocr)


def _reading_image(
    doc: Document, index: int, options: ReadOptions
) -> tuple[Image.Image, int | None, int | None]:
    """The page at the resolution it is read at (``routing.reading_dpi``), that, and an
    image's own resolution when it is read smaller."""
    rendered = doc.content(index) is not None
    own = doc.page_dpi(index)
    dpi = reading_dpi(own, options.dpi, rendered=rendered)
    if not own or not dpi or dpi >= own:
        return doc.page_image(index, dpi), dpi, None
    # A finer scan: averaged down from (at most twice) the resolution it is read at,
    # which reads better, and faster, than PDFium's own scaling (routing.MAX_READ_DPI).
    source = min(own, 2 * dpi) if rendered else own
    image = _scaled(doc.page_image(index, source), dpi / source)
    return image, dpi, None if rendered else own


def page_as_read(doc: Document, result: PageResult, options: ReadOptions) -> Image.Image:
    """The page image its record's text and word boxes were read from: rendered as it
    was for reading, then turned and levelled as the record says it was."""
    image, _, _ = _reading_image(doc, result.number - 1, options)
    if result.rotation:
        image = image.rotate(-result.rotation, expand=True)
    if result.deskew:
        image = _level(image, result.deskew)
    return image


def _level(image: Image.Image, skew: float) -> Image.Image:
    return image.rotate(skew, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC)


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    """Smaller by ``factor``, averaging pixels (a whole divisor: by box, exact)."""
    if image.mode == "1":  # averaged, a bitonal page becomes grey
        image = image.convert("L")
    whole = round(1 / factor)
    if abs(1 / factor - whole) < 1e-6:
        return image.reduce(whole)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _read_upright(
    engine: Engine, image: Image.Image, dpi: int | None, index: int, options: ReadOptions
) -> tuple[PageText, int, Image.Image]:
    """Read the page; if it looks turned, ask the engine whether it is, and how far.

    Orientation detection costs about half a recognition, so it runs only on pages
    whose first reading is doubtful, or whose lines ran top to bottom (Tesseract reads
    many sideways pages that way, well, but the page and its boxes stay sideways). The
    turned reading is kept if it is clearly more confident (by ``TURN_MARGIN``: a
    wrongly turned page of poor print can read a little more confidently, garbage and
    all, while a truly turned one reads far better), or as good and no longer sideways.
    """
    page = engine.recognize(image, dpi=dpi, page=index, hocr=options.hocr)
    doubtful = _doubtful(page, options.low_confidence) or page.vertical
    if not options.rotate or not doubtful:
        return page, 0, image
    turn = engine.orientation(image)
    if not turn:
        return page, 0, image
    upright = image.rotate(-turn, expand=True)
    turned = engine.recognize(upright, dpi=dpi, page=index, hocr=options.hocr)
    first, second = page.confidence or 0, turned.confidence or 0
    if second > first + TURN_MARGIN or (page.vertical and not turned.vertical and second >= first):
        return turned, turn, upright
    return page, 0, image


def _read_level(
    engine: Engine,
    page: PageText,
    image: Image.Image,
    dpi: int | None,
    index: int,
    options: ReadOptions,
) -> tuple[PageText, Image.Image | None]:
    """With ``deskew``, read a tilted page again once its lines are level.

    The tilt comes free with the first reading; only pages tilted by more than
    ``MIN_DESKEW_DEG`` pay for a second one, kept if it is at least as confident.
    """
    if not options.deskew or not MIN_DESKEW_DEG <= abs(page.skew) <= MAX_DESKEW_DEG:
        return page, None
    leveled = _level(image, page.skew)
    again = engine.recognize(leveled, dpi=dpi, page=index, hocr=options.hocr)
    if (again.confidence or 0) < (page.confidence or 0):
        return page, None
    return dataclasses.replace(again, skew=page.skew), leveled


def _doubtful(page: PageText, threshold: float) -> bool:
    return page.confidence is not None and page.confidence < threshold


def page_warnings(page: PageText, threshold: float) -> list[PageWarning]:
    """``blank_page`` when nothing readable was found, else ``low_confidence`` if doubtful."""
    if not any(char.isalnum() for char in page.text):
        return [PageWarning.blank_page]
    return [PageWarning.low_confidence] if _doubtful(page, threshold) else []


class _Expired(BaseException):
    """Raised by the alarm; a BaseException so engine code cannot swallow it."""


@contextlib.contextmanager
def deadline(seconds: float, path: str) -> Iterator[None]:
    """Stop the enclosed work after ``seconds`` with an ``OcrTimeoutError``.

    A signal interrupts Python code and tesserocr's Recognize() alike, so the worker
    process survives a hung page. Signals only reach the main thread; elsewhere
    (threads in tests) the coordinator's watchdog is the only limit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum: int, frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise OcrTimeoutError(
            f"{path}: OCR took longer than {seconds:g} s and was stopped"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
