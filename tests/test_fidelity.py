"""Faithful text from real pages: resolution, orientation, warnings, archive formats."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

import ocr_ray
from ocr_ray.accuracy import cer
from tests.conftest import PAGES, REPO, ground_truth

pytestmark = pytest.mark.usefixtures("ray_local")
FIXTURES = REPO / "tests" / "fixtures"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"


def _submit(folder: Path, store_url: str, **options: object) -> dict[str, ocr_ray.FileRecord]:
    job = ocr_ray.submit(folder, store=store_url, languages=["en"], **options)
    summary = job.wait(timeout=300, progress=False)
    assert summary.status.value == "completed"
    return {Path(r.path).name: r for r in job.results()}


def _pdf(pages: list[Image.Image], path: Path) -> None:
    """An image-only PDF at 300 dpi, as a scanner makes one."""
    import img2pdf

    frames = []
    for page in pages:
        buffer = io.BytesIO()
        page.save(buffer, "PNG", dpi=(300, 300))
        frames.append(buffer.getvalue())
    path.write_bytes(img2pdf.convert(frames))


def _blank() -> Image.Image:
    return Image.new("L", (1240, 1754), 255)


def test_turned_pages_are_read_upright(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    photo = Image.open(PAGES / "phototest.tif").convert("L")
    book = Image.open(PAGES / "d027.tif").convert("L")
    for turn in (0, 90, 180, 270):  # clockwise, as a sheet fed the wrong way round
        photo.rotate(-turn, expand=True).save(folder / f"photo-{turn}.png", dpi=(200, 200))
        book.rotate(-turn, expand=True).save(folder / f"book-{turn}.png", dpi=(300, 300))
    records = _submit(folder, store_url)
    for turn in (0, 90, 180, 270):
        for name, truth, limit in (("photo", "phototest", 0.03), ("book", "d027", 0.04)):
            record = records[f"{name}-{turn}.png"]
            page = record.pages[0]
            assert cer(record.text, ground_truth(truth)) <= limit, (name, turn, record.text[:80])
            # Turned back by the rest of the circle, so the page and its boxes are upright.
            assert page.rotation == (360 - turn) % 360, (name, turn, page)
            assert not page.warnings


def test_an_unreliable_page_is_flagged_and_still_succeeds(tmp_path: Path, store_url: str) -> None:
    import numpy as np
    from PIL import ImageFilter

    folder = tmp_path / "in"
    folder.mkdir()
    photo = Image.open(PAGES / "phototest.tif").convert("L")
    photo.save(folder / "clear.png", dpi=(200, 200))
    # Blurred, faded and noisy past reading well (mean word confidence about 45).
    smudged = np.asarray(photo.filter(ImageFilter.GaussianBlur(2.5)), dtype=np.float32)
    smudged = smudged * 0.8 + 30 + np.random.default_rng(7).normal(0, 20, smudged.shape)
    Image.fromarray(np.clip(smudged, 0, 255).astype(np.uint8)).save(
        folder / "smudged.png", dpi=(200, 200)
    )
    job = ocr_ray.submit(folder, store=store_url)
    summary = job.wait(timeout=300, progress=False)
    records = {Path(r.path).name: r for r in job.results()}
    assert records["smudged.png"].status is ocr_ray.FileStatus.succeeded
    assert records["smudged.png"].warnings == ["low_confidence"]
    assert records["clear.png"].warnings == []
    assert summary.failed == 0 and summary.review_pages == 1
    assert summary.warnings_by_code == {"low_confidence": 1}
    assert job.progress().review_pages == 1


def test_deskew_levels_tilted_pages_only(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    tilted = Image.open(PAGES / "d027.tif").convert("L")
    tilted.rotate(-3, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC).save(
        folder / "tilted.png", dpi=(300, 300)
    )
    Image.open(PAGES / "c015.tif").save(folder / "level.tif")
    out = tmp_path / "out"
    records = _submit(folder, store_url, deskew=True, formats=["jsonl", "pdf"], out_dir=out)
    tilted_page, level_page = records["tilted.png"].pages[0], records["level.tif"].pages[0]
    assert 2.5 <= tilted_page.deskew <= 3.5, tilted_page
    assert level_page.deskew == 0.0
    assert cer(records["tilted.png"].text, ground_truth("d027")) <= 0.03
    assert cer(records["level.tif"].text, ground_truth("c015")) <= 0.01
    _check_pdf(out / records["tilted.png"].outputs["pdf"], pages=1, truth=[ground_truth("d027")])


def test_the_engine_is_told_each_pages_resolution(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    page = Image.open(PAGES / "c015.tif").convert("L")
    _pdf([page], folder / "scan.pdf")  # rendered at the job's 300 dpi
    Image.open(PAGES / "phototest.tif").save(folder / "photo-200dpi.tif")
    page.save(folder / "no-dpi.png")  # no resolution stored: Tesseract estimates it
    page.save(folder / "stamped-72dpi.png", dpi=(72, 72))  # software's default, not a scan's
    records = _submit(folder, store_url, formats=["jsonl", "hocr"], out_dir=tmp_path / "out")
    expected = {
        "scan.pdf": 300,
        "photo-200dpi.tif": 200,
        "no-dpi.png": None,
        "stamped-72dpi.png": None,
    }
    for name, dpi in expected.items():
        record = records[name]
        assert record.pages[0].dpi == dpi, name
        hocr = (tmp_path / "out" / record.outputs["hocr"]).read_text(encoding="utf-8")
        if dpi:  # Tesseract's own account of the resolution it worked at
            assert f"scan_res {dpi} {dpi}" in hocr, name
        else:
            assert "scan_res 96 96" not in hocr, name  # the BMP default of a format-less image
        truth = ground_truth("phototest" if name.startswith("photo") else "c015")
        assert cer(record.text, truth) <= 0.03, name


def test_archive_formats_mirror_the_inputs_and_read_back(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    c015 = Image.open(PAGES / "c015.tif").convert("L")
    d027 = Image.open(PAGES / "d027.tif").convert("L")
    # Five pages: two page ranges, assembled into one document of each format.
    _pdf([c015, _blank(), d027, c015, d027], folder / "sub" / "book.pdf")
    Image.open(PAGES / "phototest.tif").save(folder / "photo.tif")
    (folder / "copy.tif").write_bytes((folder / "photo.tif").read_bytes())
    out = tmp_path / "out"
    formats = ["jsonl", "pdf", "hocr", "alto", "txt-files"]
    records = _submit(folder, store_url, formats=formats, out_dir=out)
    book, photo, copy = records["book.pdf"], records["photo.tif"], records["copy.tif"]
    assert book.outputs == {
        "pdf": "pdf/sub/book.pdf",
        "hocr": "hocr/sub/book.pdf.hocr",
        "alto": "alto/sub/book.pdf.xml",
        "txt-files": "text/sub/book.pdf.txt",
    }
    # Identical content is read once; the copy (scanned second) gets its own documents.
    assert photo.duplicate_of == copy.path and photo.outputs["pdf"] == "pdf/photo.tif.pdf"
    assert (out / copy.outputs["pdf"]).read_bytes() == (out / photo.outputs["pdf"]).read_bytes()
    assert [p.warnings for p in book.pages] == [[], ["blank_page"], [], [], []]
    book_truth = [ground_truth(n) for n in ("c015", "d027", "c015", "d027")]
    _check_pdf(out / book.outputs["pdf"], pages=5, truth=book_truth)
    _check_pdf(out / photo.outputs["pdf"], pages=1, truth=[ground_truth("phototest")])
    _check_hocr(out / book.outputs["hocr"], pages=5, truth=book_truth, image="sub/book.pdf")
    _check_alto(out / book.outputs["alto"], pages=5, truth=book_truth)
    texts = (out / book.outputs["txt-files"]).read_text(encoding="utf-8").split("\f")
    assert len(texts) == 5 and texts[1].strip() == ""  # one per page; the blank one empty
    assert cer("\n".join(texts), "\n".join(book_truth)) <= 0.04
    assert (out / "text" / "photo.tif.txt").read_text() == photo.text.rstrip("\n") + "\n"
    assert not (out / ".ocr-ray-parts").exists()


def _check_pdf(path: Path, *, pages: int, truth: list[str]) -> None:
    import pikepdf

    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == pages
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert cer(text, "\n".join(truth)) <= 0.04


def _check_hocr(path: Path, *, pages: int, truth: list[str], image: str) -> None:
    root = etree.parse(str(path)).getroot()
    found = root.findall(".//{*}div[@class='ocr_page']")
    assert len(found) == pages
    # Each page names its scan (the input under the folder given) and its page number.
    titles = [dict(p.strip().split(" ", 1) for p in e.get("title").split(";")) for e in found]
    assert [(t["image"], t["ppageno"]) for t in titles] == [
        (f'"{image}"', str(n)) for n in range(pages)
    ]
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), "hOCR ids repeat across pages"
    words = [e for e in root.iter() if e.get("class") == "ocrx_word"]
    assert words and all("bbox" in w.get("title") and "x_wconf" in w.get("title") for w in words)
    assert cer(" ".join("".join(w.itertext()) for w in words), "\n".join(truth)) <= 0.04


def _check_alto(path: Path, *, pages: int, truth: list[str]) -> None:
    """The structure ALTO readers rely on (no ALTO v4 XSD ships in a Python package)."""
    root = etree.parse(str(path)).getroot()
    assert root.tag == f"{ALTO}alto"
    assert root.find(f"{ALTO}Description/{ALTO}MeasurementUnit").text == "pixel"
    found = root.findall(f"{ALTO}Layout/{ALTO}Page")
    assert len(found) == pages
    assert [p.get("PHYSICAL_IMG_NR") for p in found] == [str(n) for n in range(1, pages + 1)]
    strings = list(root.iter(f"{ALTO}String"))
    ids = [e.get("ID") for e in root.iter() if e.get("ID")]
    assert len(ids) == len(set(ids)), "ALTO IDs repeat"
    for string in strings:
        for attribute in ("CONTENT", "HPOS", "VPOS", "WIDTH", "HEIGHT"):
            assert string.get(attribute), attribute
        assert 0.0 <= float(string.get("WC")) <= 1.0
        assert string.getparent().tag == f"{ALTO}TextLine"
    for page in found:
        assert page.find(f"{ALTO}PrintSpace") is not None
    assert cer(" ".join(s.get("CONTENT") for s in strings), "\n".join(truth)) <= 0.04


def test_documents_of_several_inputs_never_share_a_path(tmp_path: Path) -> None:
    from ocr_ray.formats import get_format
    from ocr_ray.job.outputs import DocumentWriter

    inputs = ["/in/a/scans", "/in/b/scans", "/in/c/cover.tif", "/in/d"]
    pdf, alto = get_format("pdf"), get_format("alto")
    writer = DocumentWriter(tmp_path, (pdf, alto), inputs)
    placed = {
        path: writer.relative(path, pdf)
        for path in ("/in/a/scans/p1.png", "/in/b/scans/p1.png", "/in/c/cover.tif", "/in/d/e/f.pdf")
    }
    assert placed == {
        "/in/a/scans/p1.png": "pdf/1-scans/p1.png.pdf",
        "/in/b/scans/p1.png": "pdf/2-scans/p1.png.pdf",
        "/in/c/cover.tif": "pdf/cover.tif.pdf",
        "/in/d/e/f.pdf": "pdf/d/e/f.pdf",
    }
    assert writer.relative("/in/d/e/f.pdf", alto) == "alto/d/e/f.pdf.xml"
