"""Searchable PDF: each original page (a PDF page as it is, an image via img2pdf) with
OCRmyPDF's own hOCR renderer's invisible text layer laid over it (pikepdf)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ocr_ray.formats.hocr import hocr_document
from ocr_ray.plugins import Checked, DocumentFormat, DocumentPage, Kind, Source


def searchable_pdf(path: str, kind: Kind, pages: Sequence[DocumentPage], *, system: str) -> bytes:
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
                if page.replaces_layer:  # as OCRmyPDF's --redo-ocr: the new layer only
                    drop_invisible_text(out, out.pages[-1])
            target = out.pages[-1]
            if page.index in layer_of:
                target.add_overlay(layer_of[page.index], None)
        buffer = io.BytesIO()
        out.save(buffer)
        for image in images:
            image.close()
        return buffer.getvalue()


def drop_invisible_text(pdf: Any, page: Any) -> None:
    """Remove the text drawn invisibly (render mode 3, an OCR layer) from ``page``, in
    its content and the forms it draws; visible text and everything else stay."""
    import pikepdf

    page.obj.Contents = pdf.make_stream(_visible_only(pikepdf.parse_content_stream(page)))
    forms = page.obj.get("/Resources", {}).get("/XObject", {})
    for name, form in list(forms.items()):
        if form.get("/Subtype") == "/Form":
            # A copy: the same form may be drawn by pages that keep their layer.
            copy = pdf.make_stream(_visible_only(pikepdf.parse_content_stream(form)))
            for key, value in form.items():
                if key not in ("/Length", "/Filter", "/DecodeParms"):
                    copy[key] = value
            forms[name] = copy


def _visible_only(instructions: list[Any]) -> bytes:
    """The content stream without its text objects that show text only invisibly."""
    import pikepdf

    kept: list[Any] = []
    block: list[Any] = []
    mode, shown_visibly, shown = 0, False, False
    for instruction in instructions:
        operator = str(instruction.operator)
        if operator == "Tr":
            mode = int(instruction.operands[0])
        if operator == "BT":
            block, shown_visibly, shown = [instruction], False, False
            continue
        if not block:
            kept.append(instruction)
            continue
        block.append(instruction)
        if operator in _TEXT_SHOWING:
            shown = True
            shown_visibly = shown_visibly or mode != 3
        if operator == "ET":
            if shown_visibly or not shown:
                kept.extend(block)
            block = []
    return bytes(pikepdf.unparse_content_stream(kept + block))


_TEXT_SHOWING = frozenset({"Tj", "TJ", "'", '"'})


def _image_pdf(image: Image.Image, dpi: int):  # type: ignore[no-untyped-def]
    """A one-page PDF showing one image at ``dpi``."""
    import img2pdf
    import pikepdf

    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return pikepdf.open(io.BytesIO(img2pdf.convert(_encoded(image), layout_fun=layout)))


def _page_source(path: str, kind: Kind, pages: Sequence[DocumentPage]):  # type: ignore[no-untyped-def]
    """The input's pages as a PDF, and where each page index is in it.

    A PDF is used as it is. An image goes through img2pdf, which keeps JPEG, G4 and the
    like without re-encoding; of a multi-page TIFF only this range's frames are taken,
    so a long TIFF costs each range its own pages, not the whole file.
    """
    import img2pdf
    import pikepdf

    if kind == "pdf":
        return pikepdf.open(path), {page.index: page.index for page in pages}
    # The image's pages at its own resolution: the text layer, at the resolution read,
    # has the same size in points.
    own = pages[0].own_dpi or pages[0].dpi
    layout = img2pdf.get_fixed_dpi_layout_fun((own, own))
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


def _text_layers(pages: Sequence[DocumentPage], system: str) -> bytes:
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


class PdfFormat(DocumentFormat):
    """A searchable PDF per input: the original pages, text under them."""

    name = "pdf"
    suffix = ".pdf"
    media_type = "application/pdf"
    label = "searchable PDF"
    needs = frozenset({"hocr"})

    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        return searchable_pdf(source.path, source.kind, pages, system=system)

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes | Checked:
        return merged_pdf(parts)


def merged_pdf(parts: Sequence[bytes]) -> bytes:
    """One PDF of the parts' pages, in order."""
    import pikepdf

    if len(parts) == 1:
        return parts[0]
    with pikepdf.new() as merged:
        for part in parts:
            with pikepdf.open(io.BytesIO(part)) as pdf:
                merged.pages.extend(pdf.pages)
        buffer = io.BytesIO()
        merged.save(buffer)
        return buffer.getvalue()
