"""A plugin package's engine and formats, as a third party writes them: only
``ocr_ray.plugins`` (and ocr_ray's Tesseract, which the engine builds on) is imported,
and the test suite registers them as entry points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ocr_ray.models import FileRecord
from ocr_ray.plugins import (
    DocumentFormat,
    DocumentPage,
    Engine,
    PageText,
    Provider,
    RecordFormat,
    Source,
)


class _Shouting(Engine):
    """Tesseract's reading, in capitals: another engine's text, told apart by its case."""

    def __init__(self, inner: Engine) -> None:
        self._inner, self.name, self.version = inner, "shouting", "1.0"

    def recognize(self, image: Image.Image, **options: Any) -> PageText:
        read = self._inner.recognize(image, **options)
        return PageText(text=read.text.upper(), confidence=read.confidence)


class ShoutingProvider(Provider):
    """An engine plugin built on the Tesseract that is installed."""

    name = "shouting"

    def available_languages(self) -> set[str]:
        return _tesseract().available_languages()

    def load(self, languages: tuple[str, ...]) -> Engine:
        return _Shouting(_tesseract().load(languages))


class ScribeProvider(ShoutingProvider):
    """An engine plugin that says it reads handwriting, as a handwriting model would."""

    name = "scribe"
    reads_handwriting = True


def _tesseract() -> Provider:
    from ocr_ray.engines.tesseract import TesseractProvider

    return TesseractProvider()


class WordCountFormat(RecordFormat):
    """A record format: each file's path and how many words were read, tab-separated."""

    name = "wordcount"
    suffix = ".words.tsv"
    media_type = "text/tab-separated-values"
    label = "word counts (plugin)"

    def write(self, records: Iterable[FileRecord], path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(f"{record.path}\t{len(record.text.split())}\n")


class PageTextFormat(DocumentFormat):
    """A document format: one text file per input, a form feed between its pages."""

    name = "pagetext"
    suffix = ".txt"
    media_type = "text/plain"
    label = "text per file (plugin)"

    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        return "\f".join(page.text for page in pages).encode()

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes:
        return b"\f".join(parts)
