"""Per-page stages, free of Ray: open -> render -> (text layer | recognise) -> assemble."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ocr_ray._documents import Document, Kind, open_document
from ocr_ray._engines import Engine
from ocr_ray.exceptions import OcrTimeoutError
from ocr_ray.models import PageResult

# A text layer shorter than this is treated as absent (page numbers, stray marks).
MIN_TEXT_LAYER_CHARS = 20


@dataclass(frozen=True)
class PageRange:
    """Pages ``first`` to ``last`` (0-based, inclusive) of one file."""

    path: str
    kind: Kind
    first: int
    last: int


def read_pages(
    unit: PageRange, *, engine: Engine, dpi: int, skip_text: bool, timeout_s: float
) -> list[PageResult]:
    """OCR every page of ``unit`` within ``timeout_s`` seconds."""
    with deadline(timeout_s, unit.path), open_document(unit.path, unit.kind, dpi=dpi) as doc:
        return [
            read_page(doc, index, engine=engine, skip_text=skip_text)
            for index in range(unit.first, unit.last + 1)
        ]


def read_page(doc: Document, index: int, *, engine: Engine, skip_text: bool) -> PageResult:
    """One page: its embedded text when asked and present, else OCR."""
    if skip_text:
        embedded = doc.text_layer(index)
        if len(embedded.strip()) >= MIN_TEXT_LAYER_CHARS:
            return PageResult(number=index + 1, text=embedded, source="text-layer")
    page = engine.recognize(doc.page_image(index))
    return PageResult(number=index + 1, text=page.text, confidence=page.confidence)


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
