"""hOCR: the engine's own page elements in one XHTML document per input."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ocr_ray.plugins import DocumentFormat, DocumentPage, Source

XHTML_NS = "http://www.w3.org/1999/xhtml"


def hocr_document(pages: Sequence[str], *, title: str, system: str) -> str:
    """A whole hOCR document around ``ocr_page`` elements, as Tesseract's renderer writes."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        f'<html xmlns="{XHTML_NS}" xml:lang="en" lang="en">\n <head>\n'
        f"  <title>{escape(title, quote=True)}</title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"  <meta name='ocr-system' content='{escape(system, quote=True)}'/>\n"
        "  <meta name='ocr-capabilities' content='ocr_page ocr_carea ocr_par ocr_line "
        "ocrx_word ocrp_wconf'/>\n </head>\n <body>\n"
    )
    return head + "".join(pages) + " </body>\n</html>\n"


class HocrFormat(DocumentFormat):
    """hOCR 1.2, as Tesseract's own renderer writes it."""

    name = "hocr"
    suffix = ".hocr"
    media_type = "text/vnd.hocr+html"
    label = "hOCR"
    needs = frozenset({"hocr"})

    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        return "".join(page.hocr for page in pages).encode()

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes:
        pages = [part.decode("utf-8") for part in parts]
        return hocr_document(pages, title=name, system=system).encode("utf-8")
