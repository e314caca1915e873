"""Every kind of bad input is one failed record with a specific code; nothing else suffers."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

import ocr_ray
from ocr_ray.accuracy import cer
from ocr_ray.inputs.pipeline import PageRange, ReadOptions
from ocr_ray.job.tasks import TaskOptions, ocr_unit_local
from tests.cli_process import cli_bound_by_file_modes
from tests.conftest import PAGES, ground_truth
from tests.fault_engines import CRASH_WIDTH, HANG_WIDTH

pytestmark = pytest.mark.usefixtures("ray_local")


def _page(name: str = "phototest.tif") -> Image.Image:
    return Image.open(PAGES / name).convert("L")


def make_bad_inputs(folder: Path) -> dict[str, str]:
    """Write one file per failure mode; returns file name -> expected status or error code."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", folder / "good.tif")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("this is a text file with an image's name\n")
    png = io.BytesIO()
    _page().save(png, format="PNG")
    (folder / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    Image.new("1", (12_000, 12_000), 1).save(folder / "bomb.png")
    _page().save(folder / "scan.pdf")
    writer = PdfWriter(clone_from=PdfReader(folder / "scan.pdf"))
    writer.encrypt("secret")
    writer.write(folder / "encrypted.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ntruncated")
    (folder / "letter.docx").write_bytes(b"PK\x03\x04 not an image")
    os.symlink(folder / "was-here.tif", folder / "vanished.tif")
    _page().crop((0, 0, HANG_WIDTH, 300)).save(folder / "hangs.png")
    return {
        "good.tif": "succeeded",
        "scan.pdf": "succeeded",
        "empty.png": "empty_file",
        "notes.png": "unsupported_format",
        "truncated.png": "corrupt_image",
        "bomb.png": "decompression_bomb",
        "encrypted.pdf": "encrypted_pdf",
        "broken.pdf": "corrupt_pdf",
        "letter.docx": "unsupported_extension",
        "vanished.tif": "file_not_found",
        "hangs.png": "timeout",
    }


def _outcome(record: ocr_ray.FileRecord) -> str:
    return record.error.code if record.error else record.status.value


def test_bad_inputs_fail_one_by_one_and_the_job_completes(tmp_path: Path, store_url: str) -> None:
    expected = make_bad_inputs(tmp_path / "in")
    job = ocr_ray.submit(
        tmp_path / "in",
        provider="faulty",
        store=store_url,
        timeout_per_file=3,
        max_image_pixels=50_000_000,
    )
    summary = job.wait(timeout=300, progress=False)
    records = list(job.results())
    assert sorted(Path(r.path).name for r in records) == sorted(expected)  # each exactly once
    assert {Path(r.path).name: _outcome(r) for r in records} == expected
    for record in records:
        if record.status is ocr_ray.FileStatus.failed:
            assert (
                record.error
                and record.error.message
                and Path(record.path).name in record.error.message
            )
    assert summary.status is ocr_ray.JobStatus.completed
    assert (summary.succeeded, summary.failed, summary.skipped) == (2, 8, 1)
    assert summary.failures_by_code["timeout"] == 1
    good = next(r for r in records if r.path.endswith("good.tif"))
    assert cer(good.text, ground_truth("phototest")) <= 0.03


def test_a_crashed_worker_is_retried_by_ray(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _page().crop((0, 0, CRASH_WIDTH, 480)).save(folder / "crashes-once.png")
    shutil.copy(PAGES / "c015.tif", folder / "c015.tif")
    job = ocr_ray.submit(folder, provider="faulty", store=store_url)
    job.wait(timeout=300, progress=False)
    records = {Path(r.path).name: r for r in job.results()}
    assert records["crashes-once.png"].status is ocr_ray.FileStatus.succeeded
    assert records["crashes-once.png"].attempts == 2
    assert records["c015.tif"].attempts == 1
    assert "12 point text" in records["crashes-once.png"].text


def test_a_file_that_vanishes_before_its_task_runs(tmp_path: Path) -> None:
    unit = PageRange(str(tmp_path / "gone.tif"), "image", 0, 0)
    options = TaskOptions("tesseract", ("eng",), ReadOptions(dpi=300), 30.0)
    result = ocr_unit_local(unit, options)
    assert result.error is not None and result.error.code == "file_not_found"
    assert "gone.tif" in result.error.message


def test_unreadable_file_is_permission_denied(tmp_path: Path) -> None:
    """As root, the real CLI runs without the capabilities that let root read every file
    (see ``tests/cli_process.py``), so it holds wherever the clone lives."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    shutil.copy(PAGES / "c015.tif", folder / "ok.tif")
    shutil.copy(PAGES / "d027.tif", folder / "secret.tif")
    (folder / "secret.tif").chmod(0)
    done = cli_bound_by_file_modes("run", str(folder), "--out", str(out), "--quiet", home=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = (out / "results.jsonl").read_text().splitlines()
    records = [ocr_ray.FileRecord.model_validate_json(line) for line in lines]
    assert {Path(r.path).name: _outcome(r) for r in records} == {
        "ok.tif": "succeeded",
        "secret.tif": "permission_denied",
    }
