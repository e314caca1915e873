"""The store contract, kept by SQLite and MongoDB alike: one row per (job, file),
counters never doubled, resume bookkeeping, leases, cancels, keys and claims."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ocr_ray.exceptions import RunningJobLimitError, UsageError
from ocr_ray.models import (
    CallbackState,
    ErrorInfo,
    FileRecord,
    FileStatus,
    JobStatus,
    PageResult,
    PageWarning,
)
from ocr_ray.params import JobParams
from ocr_ray.store import (
    AuditEntry,
    FileQuery,
    LivePages,
    RequestClaim,
    open_store,
    open_user_store,
    search_terms,
)
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


def test_a_file_is_counted_once_however_often_it_is_delivered(any_store_url: str) -> None:
    store = open_store(any_store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    assert store.add_files(job_id="j", items=[(0, "a"), (1, "b")]) == 2
    assert store.add_files(job_id="j", items=[(0, "a")]) == 0  # registering twice adds nothing
    assert [path for _, path in store.pending_files(job_id="j", after=0, limit=10)] == ["a", "b"]
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


def test_cancel_only_applies_to_unfinished_jobs(any_store_url: str) -> None:
    store = open_store(any_store_url)
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


def test_a_job_whose_lease_ran_out_shows_as_interrupted(any_store_url: str) -> None:
    store = open_store(any_store_url)
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


def test_an_idempotency_key_is_held_per_user_until_it_expires(any_store_url: str) -> None:
    users = open_user_store(any_store_url)
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


def test_jobs_per_user_run_bookkeeping_and_the_running_limit(any_store_url: str) -> None:
    store = open_store(any_store_url)
    for n, user in enumerate(["ann", "ann", "ben", None]):
        store.create_job(job_id=f"j{n}", params=JobParams(paths=["/x"]), user=user)
        time.sleep(0.01)  # distinct creation times: newest first is well defined
    assert [j.id for j in store.list_jobs()] == ["j3", "j2", "j1", "j0"]
    assert [j.id for j in store.list_jobs(user="ann", limit=1, offset=1)] == ["j0"]
    assert (store.count_jobs(), store.count_jobs(user="ann"), store.count_running(user="ann")) == (
        4,
        2,
        2,
    )
    with pytest.raises(RunningJobLimitError):
        store.create_job(job_id="j4", params=JobParams(paths=["/x"]), user="ann", max_running=2)
    # A run: the scan's total, records with the files still in progress, the end.
    store.start_run(job_id="j2", lease_s=60)
    store.set_scan_total(job_id="j2", total=3, complete=True)
    failed = _record("bad", FileStatus.failed)
    assert store.add_files(job_id="j2", items=[(0, "a"), (1, "b"), (2, "bad")], final=[failed]) == 3
    store.complete_files(job_id="j2", records=[_record("a")], live=LivePages(2, 5, 1))
    row = store.get_job("j2")
    assert row is not None and (row.expected_total, row.scan_complete, row.total) == (3, True, 3)
    assert (row.succeeded, row.failed, row.pages_reading, row.pages_queued, row.files_queued) == (
        1,
        1,
        2,
        5,
        1,
    )
    assert row.confidence_sum == 90.0 and row.confidence_count == 1
    store.set_callback(job_id="j2", state=CallbackState(url="https://hook.example/done"))
    store.finish_run(job_id="j2", status=JobStatus.interrupted, error="$pages: as written", cpus=4)
    row = store.get_job("j2")
    assert row is not None and (row.status, row.error) == (
        JobStatus.interrupted,
        "$pages: as written",
    )
    store.start_run(job_id="j2", lease_s=60)  # a resume counts from what is done
    row = store.get_job("j2")
    assert row is not None and (row.done_at_start, row.pages_at_start, row.files_queued) == (
        2,
        1,
        0,
    )
    assert row.callback is not None and row.callback.url == "https://hook.example/done"
    store.finish_run(job_id="j2", status=JobStatus.completed, cpus=2)
    row = store.get_job("j2")
    assert row is not None and (row.status, row.cpus) == (JobStatus.completed, 4)
    assert row.elapsed_prior_s > 0 and row.finished_at is not None
    assert [r.path for r in store.iter_records(job_id="j2", status=FileStatus.failed)] == ["bad"]
    store.cache_put(key="k", record=_record("a"))
    cached = store.cache_get(key="k")
    assert cached is not None and cached.text == "hello" and store.cache_get(key="nope") is None


def test_submits_at_once_never_pass_the_running_limit(any_store_url: str) -> None:
    store = open_store(any_store_url)

    def submit(n: int) -> bool:
        try:
            store.create_job(
                job_id=f"c{n}", params=JobParams(paths=["/x"]), user="cy", max_running=3
            )
        except RunningJobLimitError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(submit, range(16))) == 3
    assert store.count_running(user="cy") == 3


def test_keys_and_the_audit_trail(any_store_url: str) -> None:
    users = open_user_store(any_store_url)
    users.add_key(name="ann", key_hash="h1", admin=False, max_running=2, webhook_secret="s1")
    with pytest.raises(UsageError, match="already has a key"):
        users.add_key(name="ann", key_hash="h2", admin=True)
    found = users.find_key(key_hash="h1")
    assert found is not None and (found.name, found.admin, found.max_running) == ("ann", False, 2)
    assert users.webhook_secret(name="ann") == "s1"
    assert users.revoke_key(name="ann") and not users.revoke_key(name="ann")
    assert users.find_key(key_hash="h1") is None and users.webhook_secret(name="ann") is None
    users.add_key(name="ann", key_hash="h2", admin=True)  # a new key once the old is revoked
    assert [(k.name, k.revoked_at is None) for k in users.list_keys()] == [
        ("ann", False),
        ("ann", True),
    ]
    for n, (user, action) in enumerate([("ann", "submit"), ("ben", "submit"), ("ann", "cancel")]):
        users.add_audit(AuditEntry(at=100.0 + n, user=user, action=action, job_id=f"j{n % 2}"))
    assert [e.action for e in users.list_audit(user="ann")] == ["cancel", "submit"]
    assert [e.user for e in users.list_audit(job_id="j0")] == ["ann", "ann"]
    assert [e.at for e in users.list_audit(limit=1, offset=1)] == [101.0]


def test_the_throttles_counts_are_shared_and_never_lose_a_failure(any_store_url: str) -> None:
    users = open_user_store(any_store_url)

    def fail(_: int) -> int:  # as API replicas at once
        return users.count_auth_failure(client="address 10.0.0.9", now=time.time(), forget_s=60)

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(fail, range(40))) == list(range(1, 41))
    users.lock_out(client="address 10.0.0.9", until=2000.0)
    users.note_auth_success(client="key 10.0.0.9 ocr_abc", now=1500.0)
    states = users.auth_states(clients=["address 10.0.0.9", "key 10.0.0.9 ocr_abc", "other"])
    assert set(states) == {"address 10.0.0.9", "key 10.0.0.9 ocr_abc"}
    assert (states["address 10.0.0.9"].failures, states["address 10.0.0.9"].locked_until) == (
        40,
        2000.0,
    )
    assert states["key 10.0.0.9 ocr_abc"].last_success == 1500.0
    later = time.time() + 120  # quiet for longer than forget_s: counting starts afresh
    assert users.count_auth_failure(client="address 10.0.0.9", now=later, forget_s=60) == 1
    users.forget_auth(before=1600.0)  # the key quiet since 1500 goes; the address stays
    assert set(users.auth_states(clients=["address 10.0.0.9", "key 10.0.0.9 ocr_abc"])) == {
        "address 10.0.0.9"
    }


def test_the_file_list_pages_filters_and_searches_alike_in_every_store(
    any_store_url: str,
) -> None:
    """Exact pages of the viewer's list, read through a cursor: every file once, in row
    order, each filter and a search of several words (all of them, on any page)."""
    store = open_store(any_store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    names = [f"f{i:03d}" for i in range(300)]
    store.add_files(job_id="j", items=list(enumerate(names)))
    records = []
    for i, name in enumerate(names):
        record = _record(name, FileStatus.failed if i % 37 == 5 else FileStatus.succeeded)
        if record.pages:
            words = ["common", f"word{i}", *(["Rare", "pair"] if i == 250 else [])]
            second = ["pair"] if i in (120, 250) else []
            record.pages = [
                PageResult(number=1, text=" ".join(words), confidence=90.0),
                PageResult(number=2, text=" ".join(second), warnings=_warned(i)),
            ]
            record.text = "\f".join(p.text for p in record.pages)
        records.append(record)
    store.complete_files(job_id="j", records=records)

    def every(**asked: object) -> list[str]:
        shown, after = [], 0
        while page := store.list_files(job_id="j", query=FileQuery(after=after, limit=7, **asked)):  # type: ignore[arg-type]
            shown += [entry.path for entry in page]
            after = page[-1].id
        return shown

    assert every() == names
    assert every(status=FileStatus.failed) == [n for i, n in enumerate(names) if i % 37 == 5]
    reviewed = [n for i, n in enumerate(names) if i % 37 != 5 and _warned(i)]
    assert every(review=True) == reviewed and len(reviewed) == 29  # f153 failed
    assert every(terms=tuple(search_terms("rare PAIR"))) == ["f250"]
    hits = store.list_files(job_id="j", query=FileQuery(terms=tuple(search_terms("pair"))))
    assert [(hit.path, hit.matched_pages) for hit in hits] == [("f120", [2]), ("f250", [1, 2])]
    assert every(terms=("common", "word7")) == ["f007"]
    assert every(terms=("common", "nowhere")) == []


def _warned(index: int) -> list[PageWarning]:
    return [PageWarning.low_confidence] if index % 10 == 3 else []
