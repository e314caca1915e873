"""ALTO v4: the engine's hOCR tree in ALTO's vocabulary (lxml), one document per input."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree

from ocr_ray.plugins import DocumentFormat, DocumentPage, Source

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_WCONF = re.compile(r"x_wconf (\d+(?:\.\d+)?)")
_LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_textfloat", "ocr_caption"}


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


class AltoFormat(DocumentFormat):
    """ALTO v4 XML, boxes in pixels, word confidences as WC."""

    name = "alto"
    suffix = ".xml"
    media_type = "application/xml"
    label = "ALTO XML"
    needs = frozenset({"hocr"})

    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        return b"".join(alto_page(p.hocr, index=p.index) for p in pages if p.hocr)

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes:
        pages = [
            etree.tostring(page)
            for part in parts
            for page in etree.fromstring(b"<pages>" + part + b"</pages>")
        ]
        return alto_document(pages, file_name=name, software=system)
