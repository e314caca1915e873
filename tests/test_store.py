"""The SQLite store: one row per (job, file), counters never doubled, resume bookkeeping."""

from __future__ import annotations

from ocr_ray.models import ErrorInfo, FileRecord, FileStatus, JobParams, JobStatus, PageResult
from ocr_ray.store import open_store


def _record(path: str, status: FileStatus = FileStatus.succeeded) -> FileRecord:
    error = ErrorInfo(code="corrupt_image", message="bad") if status is FileStatus.failed else None
    pages = [] if error else [PageResult(number=1, text="hello", confidence=90.0)]
    return FileRecord(
        path=path,
        status=status,
        sha256=path * 2,
        pages=pages,
        text="hello" if pages else "",
        confidence=90.0 if pages else None,
        error=error,
    )


def test_a_file_is_counted_once_however_often_it_is_delivered(store_url: str) -> None:
    store = open_store(store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    assert store.add_files(job_id="j", items=[(0, "a"), (1, "b")]) == set()
    assert store.add_files(job_id="j", items=[(0, "a")]) == set()  # registering twice adds nothing
    assert store.complete_files(job_id="j", records=[_record("a")]) == 1
    assert (
        store.complete_files(job_id="j", records=[_record("a"), _record("b", FileStatus.failed)])
        == 1
    )
    row = store.get_job("j")
    assert row is not None
    assert (row.total, row.succeeded, row.failed, row.pages, row.characters) == (2, 1, 1, 1, 5)
    assert store.failures_by_code(job_id="j") == {"corrupt_image": 1}
    assert store.add_files(job_id="j", items=[(0, "a"), (1, "b"), (2, "c")]) == {"a", "b"}
    assert [r.path for r in store.iter_records(job_id="j")] == ["a", "b"]
    assert store.find_by_sha(job_id="j", sha256="aa") is not None
    assert store.find_by_sha(job_id="j", sha256="bb") is None  # failed results are not reused


def test_cancel_only_applies_to_unfinished_jobs(store_url: str) -> None:
    store = open_store(store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    store.start_run(job_id="j")
    assert store.request_cancel(job_id="j") and store.cancel_requested(job_id="j")
    store.finish_run(job_id="j", status=JobStatus.cancelled)
    assert not store.request_cancel(job_id="j")
    assert [j.id for j in store.list_jobs()] == ["j"] and store.count_jobs() == 1
