"""Text files: one plain-text file per input (``OUT/text/<input path>.txt``), pages
separated by form feeds, beside the one ``results.txt`` of every record."""

from __future__ import annotations

from collections.abc import Sequence

from ocr_ray.plugins import DocumentFormat, DocumentPage, Source

PAGE_BREAK = "\f"


class TextFilesFormat(DocumentFormat):
    """Each input's text in a file of its own, mirroring the inputs' folders."""

    name = "txt-files"
    folder = "text"
    suffix = ".txt"
    media_type = "text/plain"
    label = "a text file per input"

    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        return PAGE_BREAK.join(page.text.rstrip("\n") for page in pages).encode("utf-8")

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes:
        text = PAGE_BREAK.join(part.decode("utf-8") for part in parts)
        return (text + "\n").encode("utf-8")
