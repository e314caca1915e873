"""Job behaviour on a real local Ray: PDFs split into page ranges, dedupe, cache, cancel."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pikepdf
import pikepdf.pdfa
import pypdfium2
import pytest
from PIL import Image, ImageOps

import ocr_ray
from ocr_ray.accuracy import cer
from tests import mixed_pdf
from tests.conftest import PAGES, ground_truth

pytestmark = pytest.mark.usefixtures("ray_local")

BOOK_PAGES = ["b013", "c015", "d027", "f012", "g021", "i014"]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """An input folder apart from the test's store file."""
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def _images(names: list[str]) -> list[Image.Image]:
    return [Image.open(PAGES / f"{name}.tif").convert("L") for name in names]


def test_a_long_pdf_is_split_and_reassembled_in_page_order(tmp_path: Path, store_url: str) -> None:
    order = BOOK_PAGES + BOOK_PAGES[:4]  # 10 pages: three page-range tasks of up to four pages
    first, *rest = _images(order)
    first.save(tmp_path / "book.pdf", save_all=True, append_images=rest, resolution=300)
    job = ocr_ray.submit(tmp_path / "book.pdf", store=store_url)
    job.wait(timeout=300, progress=False)
    (record,) = list(job.results())
    assert record.status is ocr_ray.FileStatus.succeeded
    assert [p.number for p in record.pages] == list(range(1, 11))
    for page, name in zip(record.pages, order, strict=True):
        assert cer(page.text, ground_truth(name)) <= 0.06, (page.number, name)
    assert record.text.count("\f") == 9


def test_pages_take_their_paths_and_archives_are_pdfa(inputs: Path, tmp_path: Path) -> None:
    mixed_pdf.build(inputs / "mixed.pdf")
    shutil.copy(PAGES / "c015.tif", inputs / "scan.tif")
    _core_font_pdf(inputs / "core-font.pdf")  # Helvetica, not embedded: cannot be PDF/A
    out = tmp_path / "out"
    job = ocr_ray.submit(
        inputs, out_dir=out, formats="jsonl,pdfa,pdf", store=f"sqlite:///{tmp_path}/s.db"
    )
    summary = job.wait(timeout=300, progress=False)
    records = {Path(r.path).name: r for r in job.results()}
    assert summary.succeeded == 3 and summary.total_files == 3
    assert [p.source.value for p in records["mixed.pdf"].pages] == [
        "text_layer",
        "text_layer",
        "ocr",
        "blank",
        "ocr",
        "ocr",
    ]
    assert all(p.reason for p in records["mixed.pdf"].pages)
    assert summary.pages_by_source == {"ocr": 4, "text_layer": 3, "blank": 1}
    for name in ("mixed.pdf", "scan.tif"):
        check = records[name].checks["pdfa"]
        assert check.passed and check.standard == "PDF/A-2b", name
        written = out / records[name].outputs["pdfa"]
        assert pikepdf.pdfa.validate_written(written, "2b").passed, name
        assert written.parent.name == "pdfa"
    # In the searchable PDF, the re-read page has the new text layer only (the poor one
    # is dropped, as OCRmyPDF's --redo-ocr does); the good layer's page keeps its own.
    with pypdfium2.PdfDocument(str(out / records["mixed.pdf"].outputs["pdf"])) as pdf:
        for index in (1, 2):
            text = pdf[index].get_textpage().get_text_bounded()
            assert cer(text, ground_truth(mixed_pdf.SCAN)) <= 0.05, index
    refused = records["core-font.pdf"].checks["pdfa"]
    assert not refused.passed and any("font" in f.lower() for f in refused.findings)
    with pikepdf.open(out / records["core-font.pdf"].outputs["pdfa"]) as plain:
        assert len(plain.pages) == 1  # the plain searchable PDF, kept


def _core_font_pdf(path: Path) -> None:
    import fpdf

    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, mixed_pdf.BORN_DIGITAL_TEXT)
    pdf.output(str(path))


def test_identical_content_is_read_once_per_job(inputs: Path, store_url: str) -> None:
    shutil.copy(PAGES / "c015.tif", inputs / "a.tif")
    shutil.copy(PAGES / "c015.tif", inputs / "b.tif")
    job = ocr_ray.submit(inputs, store=store_url)
    job.wait(progress=False)
    a, b = list(job.results())
    assert (a.status, b.status) == (ocr_ray.FileStatus.succeeded,) * 2
    assert b.duplicate_of == a.path and b.attempts == 0 and a.attempts == 1
    assert a.text == b.text and job.summary().total_files == 2


def test_the_cache_reuses_results_across_jobs_only_when_asked(inputs: Path, store_url: str) -> None:
    shutil.copy(PAGES / "d027.tif", inputs / "page.tif")
    first = ocr_ray.submit(inputs, cache=True, store=store_url)
    first.wait(progress=False)
    cached = ocr_ray.submit(inputs, cache=True, store=store_url)
    cached.wait(progress=False)
    uncached = ocr_ray.submit(inputs, store=store_url)
    uncached.wait(progress=False)
    (one,), (two,), (three,) = (list(j.results()) for j in (first, cached, uncached))
    assert two.duplicate_of == one.path and two.attempts == 0 and two.text == one.text
    assert three.duplicate_of is None and three.attempts == 1


def test_cancel_records_every_unread_file_as_skipped(inputs: Path, store_url: str) -> None:
    for index, image in enumerate(_images(BOOK_PAGES * 4)):  # 24 distinct files
        ImageOps.expand(image, border=index + 1, fill=255).save(inputs / f"p{index:02d}.png")
    job = ocr_ray.submit(inputs, store=store_url)
    deadline = time.monotonic() + 120
    while job.progress().succeeded < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.cancel()
    summary = job.wait(timeout=120, progress=False)
    records = list(job.results())
    assert summary.status is ocr_ray.JobStatus.cancelled
    assert sorted(Path(r.path).name for r in records) == [f"p{i:02d}.png" for i in range(24)]
    skipped = [r for r in records if r.status is ocr_ray.FileStatus.skipped]
    assert skipped and all(r.error and r.error.code == "cancelled" for r in skipped)
    assert summary.succeeded + summary.skipped + summary.failed == 24
    assert not job.cancel()  # already over
    # It says how far it got, not 24 of 24.
    progress = job.progress()
    assert progress.cancelled_files == len(skipped)
    assert progress.percentage == round(100 * (24 - len(skipped)) / 24, 2) < 100
    assert progress.pages_done == summary.pages == summary.succeeded


def test_a_long_pdfs_progress_moves_by_pages_before_the_file_is_done(
    tmp_path: Path, store_url: str
) -> None:
    [page] = _images(["c015"])
    top = page.crop((0, 0, page.width, page.height // 3))  # a third of a page: quick to read
    crops = [ImageOps.expand(top, border=i + 1, fill=255) for i in range(40)]
    crops[0].save(tmp_path / "long.pdf", save_all=True, append_images=crops[1:], resolution=300)
    job = ocr_ray.submit(tmp_path / "long.pdf", store=store_url)
    seen = []
    deadline = time.monotonic() + 300
    while (p := job.progress()).status is not ocr_ray.JobStatus.completed:
        assert time.monotonic() < deadline, p
        seen.append(p)
        time.sleep(0.1)
    assert (p.current, p.pages, p.pages_done, p.pages_total, p.pages_total_known) == (
        1,
        40,
        40,
        40,
        True,
    )
    moving = [s for s in seen if s.current == 0 and 0 < s.pages_done < 40]
    assert len({s.pages_done for s in moving}) >= 2, [(s.pages_done, s.current) for s in seen]
    assert all(s.pages_total == 40 and s.pages_rate > 0 for s in moving)
    assert all(s.eta_s is not None for s in moving)  # from pages: no file is done yet


def test_progress_reports_counts_rate_and_eta(inputs: Path, store_url: str) -> None:
    for name in BOOK_PAGES:
        shutil.copy(PAGES / f"{name}.tif", inputs)
    job = ocr_ray.submit(inputs, store=store_url)
    seen = []
    while (p := job.progress()).status is not ocr_ray.JobStatus.completed:
        seen.append(p)
        time.sleep(0.3)
    assert (p.current, p.total, p.percentage, p.succeeded) == (6, 6, 100.0, 6)
    running = [s for s in seen if s.current and s.status is ocr_ray.JobStatus.running]
    assert running and all(s.rate > 0 and s.eta_s is not None for s in running)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", job.id)
