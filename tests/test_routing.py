"""Each page by the cheapest path that keeps its text: real pages, real Tesseract, no Ray.

The mixed PDF (tests/mixed_pdf.py) holds one page of each kind a collection mixes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from ocr_ray.accuracy import cer
from ocr_ray.engines import get_engine
from ocr_ray.inputs.pipeline import PageRange, ReadOptions, read_pages
from ocr_ray.models import PageSource
from tests import mixed_pdf
from tests.conftest import PAGES, ground_truth

OCR, LAYER, BLANK = PageSource.ocr, PageSource.text_layer, PageSource.blank


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mixed_pdf.build(tmp_path_factory.mktemp("mixed") / "mixed.pdf")


def _read(path: Path, mode: str) -> dict[str, object]:
    unit = PageRange(str(path), "pdf", 0, len(mixed_pdf.KINDS) - 1)
    engine = get_engine("tesseract", ("eng",))
    pages = read_pages(
        unit, engine=engine, options=ReadOptions(dpi=300, text_layer=mode), timeout_s=300
    )
    return {kind: read.result for kind, read in zip(mixed_pdf.KINDS, pages, strict=True)}


def test_auto_keeps_real_text_layers_and_reads_the_rest(mixed: Path) -> None:
    pages = _read(mixed, "auto")
    sources = {kind: page.source for kind, page in pages.items()}
    assert sources == {
        "born-digital": LAYER,
        "good-layer": LAYER,
        "poor-layer": OCR,
        "blank": BLANK,
        "undecodable": OCR,
        "scan": OCR,
    }
    assert cer(pages["born-digital"].text, mixed_pdf.BORN_DIGITAL_TEXT) == 0.0
    for kind in ("good-layer", "poor-layer", "scan"):
        assert cer(pages[kind].text, ground_truth(mixed_pdf.SCAN)) <= 0.05, kind
    # The undecodable page is read by the engine, not an empty "success".
    assert cer(pages["undecodable"].text, mixed_pdf.BORN_DIGITAL_TEXT) <= 0.03
    assert "cannot be decoded" in pages["undecodable"].reason
    assert pages["poor-layer"].reason.startswith("an earlier OCR layer")
    assert "apart from the engine on a sample" in pages["good-layer"].reason
    assert pages["blank"].text == "" and "no ink" in pages["blank"].reason
    assert pages["blank"].warnings == ["blank_page"]
    assert pages["scan"].dpi == 300 and pages["scan"].reason == "no text layer"


def test_use_takes_any_decodable_layer_and_ocr_reads_every_page(mixed: Path) -> None:
    used, read = _read(mixed, "use"), _read(mixed, "ocr")
    assert used["poor-layer"].source is LAYER and used["undecodable"].source is OCR
    truth = ground_truth(mixed_pdf.SCAN)
    # The poor layer, kept as asked, is worse than the engine's reading of its page.
    assert cer(used["poor-layer"].text, truth) > 2 * cer(read["poor-layer"].text, truth)
    assert [page.source for page in read.values()] == [OCR, OCR, OCR, BLANK, OCR, OCR]
    assert cer(read["born-digital"].text, mixed_pdf.BORN_DIGITAL_TEXT) <= 0.03


def test_a_fine_scan_is_read_at_the_reading_resolution(tmp_path: Path) -> None:
    page = Image.open(PAGES / "c015.tif").convert("L")
    fine = page.resize((page.width * 2, page.height * 2), Image.LANCZOS)
    fine.save(tmp_path / "fine.png", dpi=(600, 600))
    buffer = io.BytesIO()
    fine.save(buffer, "PNG", dpi=(600, 600))
    fine.save(tmp_path / "fine.pdf", resolution=600)
    engine = get_engine("tesseract", ("eng",))
    for name, kind in (("fine.png", "image"), ("fine.pdf", "pdf")):
        unit = PageRange(str(tmp_path / name), kind, 0, 0)
        (read,) = read_pages(unit, engine=engine, options=ReadOptions(dpi=300), timeout_s=120)
        assert read.result.dpi == 300, name
        assert cer(read.result.text, ground_truth("c015")) <= 0.03, name
