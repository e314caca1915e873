"""Real Tesseract on real pages, scored against human ground truth."""

from __future__ import annotations

import re

import pytest

import ocr_ray
from ocr_ray.accuracy import cer
from tests.conftest import PAGES, ground_truth

pytestmark = pytest.mark.usefixtures("ray_local")

# Tesseract 5 reference CER on these pages is 0.001-0.03; the bounds leave room for
# version differences but fail on a wrong page order, a lost page or a wrong language.
SINGLE_PAGES = {
    "phototest": 0.03,
    "b013": 0.05,
    "c015": 0.05,
    "d027": 0.05,
    "f012": 0.06,
    "g021": 0.05,
    "i014": 0.05,
}


@pytest.fixture(scope="module")
def english_job(tmp_path_factory: pytest.TempPathFactory) -> ocr_ray.Job:
    store = f"sqlite:///{tmp_path_factory.mktemp('acc') / 'jobs.db'}"
    job = ocr_ray.submit(PAGES, languages=["eng"], store=store)
    job.wait(timeout=600, progress=False)
    return job


def test_every_sample_page_is_read_accurately(english_job: ocr_ray.Job) -> None:
    records = {r.path.rsplit("/", 1)[-1].split(".")[0]: r for r in english_job.results()}
    assert len(records) == 9
    for name, bound in SINGLE_PAGES.items():
        record = records[name]
        assert record.status is ocr_ray.FileStatus.succeeded, record.error
        assert cer(record.text, ground_truth(name)) <= bound, name
        assert record.engine == "tesseract" and record.confidence and record.confidence > 80


def test_multipage_tiff_pages_come_back_in_order(english_job: ocr_ray.Job) -> None:
    record = next(r for r in english_job.results() if r.path.endswith("c023-c026.tif"))
    truth = re.split(r"\n?\f\n?", ground_truth("c023-c026"))
    assert [p.number for p in record.pages] == [1, 2, 3, 4]
    assert len(truth) == 4
    for page, expected in zip(record.pages, truth, strict=True):
        assert cer(page.text, expected) <= 0.05


def test_summary_counts_match_records(english_job: ocr_ray.Job) -> None:
    summary = english_job.summary()
    records = list(english_job.results())
    assert summary.total_files == summary.succeeded == 9
    assert summary.pages == sum(len(r.pages) for r in records) == 12
    assert summary.total_characters == sum(len(r.text) for r in records)


def test_more_languages_read_the_multilingual_page_better(store_url: str) -> None:
    store = store_url
    target = [str(PAGES / "eurotext.tif")]
    six = ["eng", "deu", "fra", "ita", "spa", "por"]
    multi = ocr_ray.submit(target, languages=six, store=store)
    multi.wait(progress=False)
    english = ocr_ray.submit(target, languages=["eng"], store=store)
    english.wait(progress=False)
    truth = ground_truth("eurotext")
    multi_cer = cer(next(multi.results()).text, truth)
    assert multi_cer <= 0.03
    assert multi_cer < cer(next(english.results()).text, truth)


def test_rapidocr_provider_reads_a_clean_page(store_url: str) -> None:
    job = ocr_ray.submit(PAGES / "phototest.tif", provider="rapidocr", store=store_url)
    job.wait(progress=False)
    (record,) = list(job.results())
    assert record.engine == "rapidocr" and record.status is ocr_ray.FileStatus.succeeded
    assert cer(record.text, ground_truth("phototest")) <= 0.03


def test_rapidocr_refuses_languages_its_models_cannot_read() -> None:
    with pytest.raises(ocr_ray.UsageError, match="not installed: deu"):
        ocr_ray.submit(PAGES, provider="rapidocr", languages=["deu"])
