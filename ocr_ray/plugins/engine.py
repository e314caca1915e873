"""What an engine plugin implements: a ``Provider`` that loads an ``Engine``.

Register a provider class in ``pyproject.toml``::

    [project.entry-points."ocr_ray.engines"]
    myengine = "my_package.engine:MyProvider"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from PIL import Image

from ocr_ray.exceptions import UnknownLanguageError

_MEMORY_STEP = 32 * 1024 * 1024


@dataclass(frozen=True)
class Word:
    """One recognised word: its text, its box in the pixels of the image read (left,
    top, right, bottom) and the engine's confidence in it (0-100)."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float


@dataclass(frozen=True)
class PageText:
    """What an engine read on one page."""

    text: str
    confidence: float | None
    hocr: str | None = None  # the page's ``ocr_page`` element, when asked for
    skew: float = 0.0  # degrees to turn the page counter-clockwise to level its lines
    vertical: bool = False  # its lines ran top to bottom (a sideways page, or such a script)
    words: tuple[Word, ...] = ()  # every word with its box, for the results viewer


class Engine(ABC):
    """A loaded engine, kept for the life of a worker process."""

    name: str
    version: str

    @abstractmethod
    def recognize(
        self, image: Image.Image, *, dpi: int | None = None, page: int = 0, hocr: bool = False
    ) -> PageText:
        """Read one page image.

        ``dpi`` is the page's true resolution; None lets the engine estimate it from the
        text. ``page`` (0-based) numbers the hOCR element's ids, asked for with ``hocr``.
        """

    def orientation(self, image: Image.Image) -> int | None:
        """Degrees to turn the page clockwise to make it upright; None if unknown."""
        return None


class Provider(ABC):
    """A factory for engines plus what the scheduler needs to know about them."""

    name: ClassVar[str]
    #: Bytes of worker memory per page pixel while recognising (image, binarised copies).
    bytes_per_pixel: ClassVar[float] = 12.0
    #: Memory the loaded engine itself needs.
    base_memory_bytes: ClassVar[int] = 200 * 1024 * 1024
    #: What its engines give besides text, which document formats may need ("hocr").
    gives: ClassVar[frozenset[str]] = frozenset()
    #: It reads handwriting, so jobs that say their pages are handwritten may use it.
    reads_handwriting: ClassVar[bool] = False

    @abstractmethod
    def available_languages(self) -> set[str]:
        """Language codes this provider can load on this machine."""

    @abstractmethod
    def load(self, languages: tuple[str, ...]) -> Engine:
        """Load an engine for these languages (called once per worker process)."""

    def validate_languages(self, languages: list[str]) -> list[str]:
        """``languages`` (already in engine form, see ``ocr_ray.params``) if all are
        installed; ``UnknownLanguageError`` naming the missing ones otherwise."""
        installed = self.available_languages()
        missing = [lang for lang in languages if lang not in installed]
        if missing:
            raise UnknownLanguageError(
                f"{self.name}: language(s) not installed: {', '.join(missing)}; "
                f"installed: {', '.join(sorted(installed)) or 'none'}"
            )
        return list(languages)

    def resources(self, pixels: int) -> dict[str, Any]:
        """Ray resource hints for one task over pages of at most ``pixels`` pixels."""
        memory = self.base_memory_bytes + int(pixels * self.bytes_per_pixel)
        # In steps: Ray keeps every distinct resource shape it sees for the life of the
        # process, and page sizes vary without end.
        return {"num_cpus": 1, "memory": -(-memory // _MEMORY_STEP) * _MEMORY_STEP}
