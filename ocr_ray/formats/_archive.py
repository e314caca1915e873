"""Archive formats made on the worker, next to the OCR: searchable PDF, hOCR, ALTO v4.

Everything starts from the engine's hOCR page element. ALTO is the same tree in ALTO's
vocabulary (lxml); the PDF is each original page (PDF page as is, image via img2pdf)
with OCRmyPDF's own hOCR renderer's invisible text layer laid over it (pikepdf).
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from PIL import Image

from ocr_ray.inputs.documents import Kind

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_WCONF = re.compile(r"x_wconf (\d+(?:\.\d+)?)")
_LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_textfloat", "ocr_caption"}


@dataclass(frozen=True)
class ArchivePage:
    """What the archive formats need of one page that was read."""

    index: int  # 0-based page of the input
    hocr: str  # the page's hOCR ``ocr_page`` element
    rotation: int  # degrees clockwise the page was turned before reading
    dpi: int  # resolution of the image the boxes refer to
    leveled: Image.Image | None = None  # the deskewed page, which replaces the original


def hocr_document(pages: Sequence[str], *, title: str, system: str) -> str:
    """A whole hOCR document around ``ocr_page`` elements, as Tesseract's renderer writes."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        f'<html xmlns="{XHTML_NS}" xml:lang="en" lang="en">\n <head>\n'
        f"  <title>{_escape(title)}</title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"  <meta name='ocr-system' content='{_escape(system)}'/>\n"
        "  <meta name='ocr-capabilities' content='ocr_page ocr_carea ocr_par ocr_line "
        "ocrx_word ocrp_wconf'/>\n </head>\n <body>\n"
    )
    return head + "".join(pages) + " </body>\n</html>\n"


def alto_page(hocr_page: str, *, index: int) -> bytes:
    """One ALTO v4 ``Page`` element from an hOCR page element (boxes in pixels)."""
    page = etree.fromstring(hocr_page.encode())
    left, top, right, bottom = _bbox(page)
    out = etree.Element(
        f"{{{ALTO_NS}}}Page",
        ID=f"p{index + 1}",
        PHYSICAL_IMG_NR=str(index + 1),
        WIDTH=str(right),
        HEIGHT=str(bottom),
    )
    space = _box(etree.SubElement(out, f"{{{ALTO_NS}}}PrintSpace"), (left, top, right, bottom))
    for b, par in enumerate(page.iter("{*}p")):
        block = _box(etree.SubElement(space, f"{{{ALTO_NS}}}TextBlock"), _bbox(par))
        block.set("ID", f"p{index + 1}_b{b + 1}")
        for n, line in enumerate(e for e in par.iter() if e.get("class") in _LINE_CLASSES):
            _alto_line(block, line, f"p{index + 1}_b{b + 1}_l{n + 1}")
    return etree.tostring(out)


def _alto_line(block: etree._Element, line: etree._Element, line_id: str) -> None:
    text_line = _box(etree.SubElement(block, f"{{{ALTO_NS}}}TextLine"), _bbox(line))
    text_line.set("ID", line_id)
    words = [w for w in line.iter() if w.get("class") == "ocrx_word"]
    for n, word in enumerate(words):
        content = "".join(word.itertext()).strip()
        if not content:
            continue
        if len(text_line):
            etree.SubElement(text_line, f"{{{ALTO_NS}}}SP")
        string = _box(etree.SubElement(text_line, f"{{{ALTO_NS}}}String"), _bbox(word))
        string.set("ID", f"{line_id}_w{n + 1}")
        string.set("CONTENT", content)
        confidence = _WCONF.search(word.get("title", ""))
        if confidence:
            string.set("WC", f"{float(confidence.group(1)) / 100:.2f}")


def alto_document(pages: Sequence[bytes], *, file_name: str, software: str) -> bytes:
    """A whole ALTO v4 document around ``Page`` elements."""
    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap={None: ALTO_NS, "xsi": _XSI})
    root.set(f"{{{_XSI}}}schemaLocation", f"{ALTO_NS} {ALTO_SCHEMA}")
    description = etree.SubElement(root, f"{{{ALTO_NS}}}Description")
    etree.SubElement(description, f"{{{ALTO_NS}}}MeasurementUnit").text = "pixel"
    source = etree.SubElement(description, f"{{{ALTO_NS}}}sourceImageInformation")
    etree.SubElement(source, f"{{{ALTO_NS}}}fileName").text = file_name
    step = etree.SubElement(
        etree.SubElement(description, f"{{{ALTO_NS}}}OCRProcessing", ID="ocr"),
        f"{{{ALTO_NS}}}ocrProcessingStep",
    )
    tool = etree.SubElement(step, f"{{{ALTO_NS}}}processingSoftware")
    etree.SubElement(tool, f"{{{ALTO_NS}}}softwareName").text = software
    layout = etree.SubElement(root, f"{{{ALTO_NS}}}Layout")
    for page in pages:
        layout.append(etree.fromstring(page))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def searchable_pdf(path: str, kind: Kind, pages: Sequence[ArchivePage], *, system: str) -> bytes:
    """The pages of ``path`` (original images) with an invisible text layer, in order."""
    import pikepdf

    read = [page for page in pages if page.hocr]  # others kept their own text layer
    source, position = _page_source(path, kind, pages)
    with (
        source,
        pikepdf.open(io.BytesIO(_text_layers(read, system))) as layers,
        pikepdf.new() as out,
    ):
        layer_of = {page.index: layers.pages[n] for n, page in enumerate(read)}
        images = []  # each deskewed page's one-page PDF, open until the copy is saved
        for page in pages:
            if page.leveled is not None:  # upright and level already: the boxes fit it
                images.append(_image_pdf(page.leveled, page.dpi))
                out.pages.append(images[-1].pages[0])
            else:
                out.pages.append(source.pages[position[page.index]])
                if page.rotation:
                    out.pages[-1].rotate(page.rotation, relative=True)
            target = out.pages[-1]
            if page.index in layer_of:
                target.add_overlay(layer_of[page.index], None)
        buffer = io.BytesIO()
        out.save(buffer)
        for image in images:
            image.close()
        return buffer.getvalue()


def _image_pdf(image: Image.Image, dpi: int):  # type: ignore[no-untyped-def]
    """A one-page PDF showing one image at ``dpi``."""
    import img2pdf
    import pikepdf

    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return pikepdf.open(io.BytesIO(img2pdf.convert(_encoded(image), layout_fun=layout)))


def _page_source(path: str, kind: Kind, pages: Sequence[ArchivePage]):  # type: ignore[no-untyped-def]
    """The input's pages as a PDF, and where each page index is in it.

    A PDF is used as it is. An image goes through img2pdf, which keeps JPEG, G4 and the
    like without re-encoding; of a multi-page TIFF only this range's frames are taken,
    so a long TIFF costs each range its own pages, not the whole file.
    """
    import img2pdf
    import pikepdf

    if kind == "pdf":
        return pikepdf.open(path), {page.index: page.index for page in pages}
    layout = img2pdf.get_fixed_dpi_layout_fun((pages[0].dpi, pages[0].dpi))
    wanted = sorted({page.index for page in pages})
    whole = wanted == [0] and _frames(path) == 1
    try:
        source = path if whole else [_frame(path, index, lossless=False) for index in wanted]
        data = img2pdf.convert(source, layout_fun=layout, rotation=img2pdf.Rotation.ifvalid)
    except Exception:  # alpha, 16-bit and palette images: re-encode what was read
        frames = [_frame(path, index, lossless=True) for index in wanted]
        data = img2pdf.convert(frames, layout_fun=layout)
    position = {index: n for n, index in enumerate(wanted)}
    return pikepdf.open(io.BytesIO(data)), position


def _frames(path: str) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return int(getattr(image, "n_frames", 1))


def _frame(path: str, index: int, *, lossless: bool) -> bytes:
    """One frame as an image file img2pdf takes (see ``_encoded``).

    ``lossless`` also turns modes img2pdf refuses (alpha, palette, 16-bit) into RGB or L.
    """
    with Image.open(path) as image:
        image.seek(index)
        frame = image.copy()
    if lossless and frame.mode not in ("1", "L", "RGB"):
        grey = frame.mode in ("I;16", "I", "F", "LA")
        frame = frame.convert("L" if grey else "RGB")
    return _encoded(frame)


def _encoded(image: Image.Image) -> bytes:
    """Losslessly as G4 TIFF if bitonal, else as PNG (img2pdf keeps its compression)."""
    buffer = io.BytesIO()
    if image.mode == "1":
        image.save(buffer, "TIFF", compression="group4")
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _text_layers(pages: Sequence[ArchivePage], system: str) -> bytes:
    """One PDF whose page n holds page n's words, invisible, by OCRmyPDF's renderer.

    All pages of a range share one document, so the font is embedded once.
    """
    from ocrmypdf.fpdf_renderer import Fpdf2MultiPageRenderer
    from ocrmypdf.hocrtransform.hocr_parser import HocrParser

    with tempfile.TemporaryDirectory(prefix="ocr-ray-layer-") as folder:
        parsed = []
        for page in pages:
            source = Path(folder) / f"{page.index}.hocr"
            document = hocr_document([page.hocr], title="", system=system)
            source.write_text(document, encoding="utf-8")
            parsed.append((page.index, HocrParser(source).parse(), float(page.dpi)))
        if not parsed:
            return bytes(_empty_pdf())
        target = Path(folder) / "layers.pdf"
        Fpdf2MultiPageRenderer(parsed, _fonts(), invisible_text=True).render(target)
        return target.read_bytes()


def _empty_pdf() -> bytes:
    import pikepdf

    with pikepdf.new() as empty:
        buffer = io.BytesIO()
        empty.save(buffer)
        return buffer.getvalue()


_FONTS: list[Any] = []


def _fonts() -> Any:
    """OCRmyPDF's font manager, loaded once per worker process."""
    if not _FONTS:
        import ocrmypdf
        from ocrmypdf.font import MultiFontManager

        _FONTS.append(MultiFontManager(Path(ocrmypdf.__file__).parent / "data"))
    return _FONTS[0]


def _bbox(element: etree._Element) -> tuple[int, int, int, int]:
    found = _BBOX.search(element.get("title", ""))
    if not found:
        return (0, 0, 0, 0)
    left, top, right, bottom = (int(v) for v in found.groups())
    return left, top, right, bottom


def _box(element: etree._Element, box: tuple[int, int, int, int]) -> etree._Element:
    left, top, right, bottom = box
    element.set("HPOS", str(left))
    element.set("VPOS", str(top))
    element.set("WIDTH", str(right - left))
    element.set("HEIGHT", str(bottom - top))
    return element


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=True)
