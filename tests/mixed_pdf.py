"""A PDF of the kinds of page real collections mix, built from the sample pages.

Pages, in order (``KINDS``): born-digital text; a scan with a good invisible OCR layer
(Tesseract's PDF renderer); the same scan with a poor one (Tesseract reading a copy at a
fifth of the resolution); a blank scan (paper grey and noise); a born-digital page
whose font lost its Unicode map; a scan with no text layer.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
from PIL import Image, ImageFilter

from tests.pages import PAGES

KINDS = ["born-digital", "good-layer", "poor-layer", "blank", "undecodable", "scan"]
BORN_DIGITAL_TEXT = (
    "Routing sends each page to the cheapest path that keeps its text. " * 6
).strip()
SCAN = "c015"  # the sample page under the OCR layers and the plain scan


def build(path: Path) -> Path:
    """Write the mixed PDF to ``path``."""
    scan = PAGES / f"{SCAN}.tif"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        parts = [
            born_digital(work / "born.pdf", BORN_DIGITAL_TEXT),
            ocr_layered(scan, work / "good.pdf", shrink=1),
            ocr_layered(scan, work / "poor.pdf", shrink=5),
            image_pdf(blank_scan(), work / "blank.pdf"),
            _without_unicode(born_digital(work / "plain.pdf", BORN_DIGITAL_TEXT)),
            image_pdf(Image.open(scan).convert("L"), work / "scan.pdf"),
        ]
        with pikepdf.new() as merged:
            for part in parts:
                with pikepdf.open(part) as pdf:
                    merged.pages.extend(pdf.pages)
            merged.save(path)
    return path


def born_digital(path: Path, text: str) -> Path:
    """A page of text in an embedded TrueType font, as office software writes it."""
    import fpdf
    import ocrmypdf

    pdf = fpdf.FPDF(unit="pt", format="letter")
    pdf.add_page()
    pdf.add_font(
        "noto", fname=str(Path(ocrmypdf.__file__).parent / "data" / "NotoSans-Regular.ttf")
    )
    pdf.set_font("noto", size=12)
    pdf.multi_cell(0, 16, text)
    pdf.output(str(path))
    return path


def _without_unicode(path: Path) -> Path:
    """The same page with its font's ToUnicode map removed: its text decodes to nothing."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for font in pdf.pages[0].Resources.Font.values():
            if "/ToUnicode" in font:
                del font["/ToUnicode"]
        pdf.save(path)
    return path


def ocr_layered(scan: Path, path: Path, *, shrink: int) -> Path:
    """The scan with an invisible text layer from Tesseract reading it at 1/``shrink``."""
    image = Image.open(scan).convert("L")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "read.png"
        if shrink > 1:
            small = image.resize((image.width // shrink, image.height // shrink), Image.BILINEAR)
            image = small.filter(ImageFilter.GaussianBlur(0.6))
        image.save(source, dpi=(300 // shrink, 300 // shrink))
        subprocess.run(
            ["tesseract", str(source), str(Path(folder) / "text"), "-c", "textonly_pdf=1", "pdf"],
            check=True,
            capture_output=True,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        layout = img2pdf.get_fixed_dpi_layout_fun((300, 300))
        with (
            pikepdf.open(io.BytesIO(img2pdf.convert(str(scan), layout_fun=layout))) as page,
            pikepdf.open(Path(folder) / "text.pdf") as text,
        ):
            page.pages[0].add_overlay(text.pages[0])
            page.save(path)
    return path


def blank_scan() -> Image.Image:
    """A scanned blank page: grey paper, sensor noise, a few specks of dust."""
    rng = np.random.default_rng(7)
    paper = rng.normal(228, 10, size=(3300, 2550))
    for y, x in rng.integers(100, 2400, size=(6, 2)):
        paper[y : y + 2, x : x + 2] = 40  # dust: 2 pixels across, 0.17 mm
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))


def image_pdf(image: Image.Image, path: Path) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(300, 300))
    layout = img2pdf.get_fixed_dpi_layout_fun((300, 300))
    path.write_bytes(img2pdf.convert(buffer.getvalue(), layout_fun=layout))
    return path
