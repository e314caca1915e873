"""The SQLite store: one row per (job, file), counters never doubled, resume bookkeeping."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ocr_ray.models import ErrorInfo, FileRecord, FileStatus, JobStatus, PageResult
from ocr_ray.params import JobParams
from ocr_ray.store import RequestClaim, open_store, open_user_store
from ocr_ray.store.sqlite import _SCHEMA


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
    assert store.add_files(job_id="j", items=[(0, "a"), (1, "b")]) == 2
    assert store.add_files(job_id="j", items=[(0, "a")]) == 0  # registering twice adds nothing
    assert store.complete_files(job_id="j", records=[_record("a")]) == 1
    assert (
        store.complete_files(job_id="j", records=[_record("a"), _record("b", FileStatus.failed)])
        == 1
    )
    row = store.get_job("j")
    assert row is not None
    assert (row.total, row.succeeded, row.failed, row.pages, row.characters) == (2, 1, 1, 1, 5)
    assert store.failures_by_code(job_id="j") == {"corrupt_image": 1}
    assert store.add_files(job_id="j", items=[(0, "a"), (1, "b"), (2, "c")]) == 1
    # Only "c" is still to do (a resume reads from the store what is left, in order).
    assert [path for _, path in store.pending_files(job_id="j", after=0, limit=10)] == ["c"]
    assert [r.path for r in store.iter_records(job_id="j")] == ["a", "b"]
    assert store.find_by_sha(job_id="j", sha256="aa") is not None
    assert store.find_by_sha(job_id="j", sha256="bb") is None  # failed results are not reused


def test_cancel_only_applies_to_unfinished_jobs(store_url: str) -> None:
    store = open_store(store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    store.start_run(job_id="j", lease_s=60)
    assert store.request_cancel(job_id="j") and store.cancel_requested(job_id="j")
    store.start_run(job_id="j", lease_s=60)  # the coordinator died before it saw the cancel
    assert store.cancel_requested(job_id="j")
    store.finish_run(job_id="j", status=JobStatus.cancelled)
    assert not store.request_cancel(job_id="j")
    store.start_run(job_id="j", lease_s=60)  # resuming a cancelled job runs it
    assert not store.cancel_requested(job_id="j")
    store.finish_run(job_id="j", status=JobStatus.completed)
    assert [j.id for j in store.list_jobs()] == ["j"] and store.count_jobs() == 1


def test_a_job_whose_lease_ran_out_shows_as_interrupted(store_url: str) -> None:
    store = open_store(store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    store.start_run(job_id="j", lease_s=60)
    assert [j.status for j in store.list_jobs()] == [JobStatus.running]
    store.renew_lease(job_id="j", lease_s=-1)  # as if the coordinator stopped renewing
    assert [j.status for j in store.list_jobs()] == [JobStatus.interrupted]
    store.renew_lease(job_id="j", lease_s=60)
    store.finish_run(job_id="j", status=JobStatus.completed)
    store.renew_lease(job_id="j", lease_s=-1)
    assert [j.status for j in store.list_jobs()] == [JobStatus.completed]


def test_a_store_from_before_leases_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA.replace(",\n    lease_until REAL", ""))
        db.execute(
            "INSERT INTO jobs (id, params, status, created_at) VALUES ('old', ?, 'running', 0)",
            (JobParams(paths=["/x"]).model_dump_json(),),
        )
    store = open_store(f"sqlite:///{path}")
    row = store.get_job("old")
    assert row is not None and (row.status, row.lease_until) == (JobStatus.running, None)


def test_an_idempotency_key_is_held_per_user_until_it_expires(store_url: str) -> None:
    users = open_user_store(store_url)
    claim = {"key": "k1", "digest": "d1", "ttl_s": 3600.0}
    assert users.claim_request(user="ann", job_id="j1", **claim) is None  # free: claimed
    held = users.claim_request(user="ann", job_id="j2", **claim)
    assert held == RequestClaim("d1", "j1", started=False)
    users.settle_request(user="ann", key="k1", started=True)
    assert users.claim_request(user="ann", job_id="j3", **claim) == RequestClaim("d1", "j1", True)
    assert users.claim_request(user="ben", job_id="j4", **claim) is None  # another user's
    users.settle_request(user="ben", key="k1", started=False)  # its request failed: freed
    assert users.claim_request(user="ben", job_id="j5", **claim) is None
    time.sleep(0.05)
    expired = users.claim_request(user="ann", key="k1", digest="d2", job_id="j6", ttl_s=0.01)
    assert expired is None  # older than its lifetime: the key is free again
    assert users.claim_request(user="ann", job_id="j7", **claim) == RequestClaim("d2", "j6", False)
