"""hOCR: the engine's own page elements in one XHTML document per input."""

from __future__ import annotations

import re
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
        pages = [_name_image(part.decode("utf-8"), name) for part in parts]
        return hocr_document(pages, title=name, system=system).encode("utf-8")


# The engine read an image it was handed in memory, so it calls it "unknown".
_PAGE_IMAGE = re.compile(r"""(class=['"]ocr_page['"][^>]*?title=['"])image "[^"]*"(; )?""")


def _name_image(pages: str, name: str) -> str:
    """Each ``ocr_page`` names its image, ``name`` (the page is its ``ppageno``), so
    hOCR viewers can pair it with the scan."""
    quoted = escape(name.replace("\\", "\\\\").replace('"', '\\"'), quote=True)
    return _PAGE_IMAGE.sub(lambda m: f'{m.group(1)}image "{quoted}"{m.group(2) or ""}', pages)
