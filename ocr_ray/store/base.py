"""The job store interface: what the coordinator, the CLI and the API need."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ocr_ray.exceptions import ErrorCode
from ocr_ray.models import (
    CallbackState,
    FileEntry,
    FileRecord,
    FileStatus,
    JobStatus,
    PageSource,
    PageWarning,
)
from ocr_ray.params import JobParams
from ocr_ray.store.browse import FileQuery


@dataclass
class JobRow:
    """A job's stored state and counters."""

    id: str
    params: JobParams
    status: JobStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    total: int
    expected_total: int | None
    scan_complete: bool
    succeeded: int
    failed: int
    skipped: int
    pages: int
    characters: int
    confidence_sum: float
    confidence_count: int
    done_at_start: int
    elapsed_prior_s: float
    error: str | None
    lease_until: float | None = None  # a running job's coordinator renews it
    review_pages: int = 0  # pages read with a warning
    low_confidence_pages: int = 0
    blank_pages: int = 0
    user: str | None = None  # the API user who submitted it; None for CLI and library jobs
    cpus: float | None = None  # the most CPUs the cluster had during the job's runs
    callback: CallbackState | None = None  # its completion webhook's delivery so far
    cancelled_files: int = 0  # skipped because the job was cancelled before reading them
    pages_at_start: int = 0  # final pages when this run started
    # What the running coordinator holds of files not final yet (LivePages).
    pages_reading: int = 0
    pages_queued: int = 0
    files_queued: int = 0
    # Pages that took a path other than the engine (SOURCE_COUNTERS).
    source_text_layer_pages: int = 0
    source_blank_pages: int = 0

    @property
    def done(self) -> int:
        """Files with a final record."""
        return self.succeeded + self.failed + self.skipped

    def warnings_by_code(self) -> dict[str, int]:
        """Pages per warning, for the warnings that occurred."""
        counts = {w.value: getattr(self, field) for w, field in WARNING_COUNTERS.items()}
        return {code: count for code, count in counts.items() if count}

    def pages_by_source(self) -> dict[str, int]:
        """Pages per path taken: the engine's, the text layer's, blank."""
        counts = {s.value: getattr(self, field) for s, field in SOURCE_COUNTERS.items()}
        return {PageSource.ocr.value: self.pages - sum(counts.values()), **counts}


@dataclass(frozen=True)
class LivePages:
    """The pages of files whose records are not written yet, as the coordinator holds
    them: stored as a whole with each batch of records, so a reader never counts a
    page twice or loses one while a file goes from in progress to final."""

    reading: int = 0  # pages already read of those files (their finished ranges)
    queued: int = 0  # all pages of those files, as their probes counted them
    files: int = 0  # how many files that is


@dataclass
class ApiKey:
    """An API user's key, as stored: its SHA-256, never the key itself."""

    name: str
    admin: bool
    created_at: float
    revoked_at: float | None = None
    key_hash: str = ""  # SHA-256 of the key, hex
    max_running: int | None = None  # this user's running-job limit; None: the default


@dataclass
class RequestClaim:
    """An ``Idempotency-Key`` as stored: the request it was first used for, and its job."""

    digest: str  # SHA-256 of the request
    job_id: str
    started: bool  # False while the first request is still being worked on


@dataclass(frozen=True)
class AuthState:
    """What the API's throttle knows of one client (an address, or an address and a key
    prefix): its failed authentications in a row, and when it last succeeded."""

    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0
    last_success: float = 0.0


@dataclass
class AuditEntry:
    """Who did what to which job, and when."""

    at: float
    user: str
    action: str  # submit, cancel, download, key_create, key_revoke
    job_id: str | None = None
    detail: str = ""
    client: str | None = None  # the caller's address, for API actions


_CANCELLED = ErrorCode.cancelled.value
# Which JobRow counter (and store column) counts the pages that took each path besides
# the engine's; the engine's are the rest.
SOURCE_COUNTERS = {
    PageSource.text_layer: "source_text_layer_pages",
    PageSource.blank: "source_blank_pages",
}
# Which JobRow counter (and store column) counts the pages with each warning.
WARNING_COUNTERS = {
    PageWarning.low_confidence: "low_confidence_pages",
    PageWarning.blank_page: "blank_pages",
}
# Every counter a final record adds to its job; the confidence mean is sum / count.
RECORD_COUNTERS = (
    "succeeded",
    "failed",
    "skipped",
    "pages",
    "characters",
    "review_pages",
    "cancelled_files",
    *WARNING_COUNTERS.values(),
    *SOURCE_COUNTERS.values(),
    "confidence_sum",
    "confidence_count",
)


def record_counts(records: Iterable[FileRecord]) -> dict[str, float]:
    """What newly final ``records`` add to their job's counters (RECORD_COUNTERS)."""
    counts: dict[str, float] = dict.fromkeys(RECORD_COUNTERS, 0)
    for record in records:
        counts[record.status.value] += 1
        counts["pages"] += len(record.pages)
        counts["characters"] += len(record.text)
        counts["review_pages"] += record.review_pages
        counts["cancelled_files"] += bool(record.error and record.error.code == _CANCELLED)
        for page in record.pages:
            for warning in page.warnings:
                counts[WARNING_COUNTERS[warning]] += 1
            if page.source in SOURCE_COUNTERS:
                counts[SOURCE_COUNTERS[page.source]] += 1
        if record.confidence is not None:
            counts["confidence_sum"] += record.confidence
            counts["confidence_count"] += 1
    return counts


class JobStore(Protocol):
    """Persistent job state. Only the coordinator writes file results."""

    def create_job(
        self, *, job_id: str, params: JobParams, user: str | None = None, max_running: int = 0
    ) -> None:
        """Record a new job in the queued state, owned by ``user``.

        With ``max_running``, raises ``RunningJobLimitError`` instead when ``user``
        already has that many queued or running jobs (checked and inserted atomically).
        """

    def get_job(self, job_id: str) -> JobRow | None:
        """The job, or None."""

    def list_jobs(
        self, *, limit: int = 50, offset: int = 0, user: str | None = None
    ) -> list[JobRow]:
        """Jobs, newest first; only ``user``'s when given."""

    def count_jobs(self, *, user: str | None = None) -> int:
        """How many jobs exist (``user``'s only, when given)."""

    def count_running(self, *, user: str) -> int:
        """How many of ``user``'s jobs are queued or running (a dead one's lease ran out)."""

    def start_run(self, *, job_id: str, lease_s: float) -> None:
        """Mark the job running (again, on resume), reset its run clock and its live
        pages, take a lease.

        A cancel still pending from the last run stays requested.
        """

    def renew_lease(self, *, job_id: str, lease_s: float) -> None:
        """Extend a running job's lease: its coordinator is alive."""

    def finish_run(
        self,
        *,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        cpus: float | None = None,
    ) -> None:
        """Mark the end of a run with its final status (and the most CPUs it had); no
        file is in progress any more."""

    def add_files(
        self, *, job_id: str, items: list[tuple[int, str]], final: Sequence[FileRecord] = ()
    ) -> int:
        """Register (seq, path) pairs as pending; a path already known keeps its row.
        Those with a record in ``final`` (the walk's failures) are final at once, in the
        same transaction, so nothing reads them as pending first. Returns how many
        were new."""

    def pending_files(self, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` (row, path) of files still pending, in the order they were
        registered, starting after row ``after`` (0: from the first)."""

    def complete_files(
        self, *, job_id: str, records: Sequence[FileRecord], live: LivePages | None = None
    ) -> int:
        """Store final records; a file already final is not counted again. ``live``
        replaces the job's figures for its files in progress, in the same transaction."""

    def set_scan_total(self, *, job_id: str, total: int, complete: bool) -> None:
        """Record how many input files the scan has found."""

    def request_cancel(self, *, job_id: str) -> bool:
        """Ask the job's coordinator to stop; False if the job is already finished."""

    def cancel_requested(self, *, job_id: str) -> bool:
        """Whether a cancel was asked for."""

    def find_by_sha(self, *, job_id: str, sha256: str) -> FileRecord | None:
        """A finished, successful record of this job with that content."""

    def iter_records(
        self, *, job_id: str, status: FileStatus | None = None
    ) -> Iterator[FileRecord]:
        """Final records in scan order."""

    def failures_by_code(self, *, job_id: str) -> dict[str, int]:
        """How many files failed with each error code."""

    def cache_get(self, *, key: str) -> FileRecord | None:
        """A cached record for identical content and options, across jobs."""

    def cache_put(self, *, key: str, record: FileRecord) -> None:
        """Remember a successful record for later jobs."""

    def set_callback(self, *, job_id: str, state: CallbackState) -> None:
        """Record where the job's completion webhook stands (its one sender writes it)."""

    def list_files(self, *, job_id: str, query: FileQuery) -> list[FileEntry]:
        """A page of the job's files in registration order, through an index: those
        after ``query.after`` that pass its filters and hold all its search terms."""

    def get_file(self, *, job_id: str, file_id: int) -> FileRecord | None:
        """The final record of the job's file with that row, or None."""

    def page_words(self, *, job_id: str, sha256: str, page: int) -> bytes | None:
        """The word boxes (``ocr_ray.wordboxes``) of page ``page`` (1-based) of the
        job's file with that content, or None if the engine did not read it."""


class UserStore(Protocol):
    """API users' keys and the audit trail (``serve/``), kept apart from job state."""

    def add_key(
        self,
        *,
        name: str,
        key_hash: str,
        admin: bool,
        max_running: int | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        """Store a new key; ``UsageError`` if ``name`` already has a live key."""

    def find_key(self, *, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, or None."""

    def webhook_secret(self, *, name: str) -> str | None:
        """The secret that signs the webhooks of ``name``'s live key, or None (no live
        key). Stored as it is, since signing needs it (a receiver checks with the same
        secret); only this reads it, never a key lookup."""

    def claim_request(
        self, *, user: str, key: str, digest: str, job_id: str, ttl_s: float
    ) -> RequestClaim | None:
        """Take ``user``'s idempotency ``key`` for a request (``digest``) that will
        start ``job_id``: None if it was free (or expired after ``ttl_s``), else the
        claim that holds it. Atomic, so of two requests at once one claims it."""

    def settle_request(self, *, user: str, key: str, started: bool) -> None:
        """The claimed request has started its job (``started``), or failed: then the
        key is freed, so the request may be retried."""

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    def auth_states(self, *, clients: Sequence[str]) -> dict[str, AuthState]:
        """The throttle's state of those ``clients`` it knows."""

    def count_auth_failure(self, *, client: str, now: float, forget_s: float) -> int:
        """Count a failed authentication: ``client``'s failures in a row, started afresh
        after ``forget_s`` without one. Atomic, so replicas at once count every one."""

    def lock_out(self, *, client: str, until: float) -> None:
        """Refuse ``client`` until ``until``."""

    def note_auth_success(self, *, client: str, now: float) -> None:
        """``client`` authenticated at ``now``."""

    def forget_auth(self, *, before: float) -> None:
        """Drop the throttle's state of clients quiet since ``before``."""

    def revoke_key(self, *, name: str) -> bool:
        """Revoke ``name``'s live key; False if it has none."""

    def add_audit(self, entry: AuditEntry) -> None:
        """Append to the audit trail."""

    def list_audit(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        user: str | None = None,
        job_id: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, filtered by user and job when given."""


# Marks a stored key that holds a name's bytes in hex: a name that is not UTF-8 (which
# SQLite's text cannot hold), or one that starts with this mark itself. U+FFFF is a
# noncharacter, so no other name is read as hex.
_HEX_KEY = "\uffff"


def path_key(path: str) -> str:
    """How a store keeps ``path`` as text, losslessly, whatever bytes the name has."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return _HEX_KEY + os.fsencode(path).hex()
    return _HEX_KEY + path.encode().hex() if path.startswith(_HEX_KEY) else path


def key_path(key: str) -> str:
    """The path a ``path_key`` was made from."""
    return os.fsdecode(bytes.fromhex(key[1:])) if key.startswith(_HEX_KEY) else key


def dump_record(record: FileRecord) -> str:
    """A final record as a store keeps it: JSON, without the full text, which is the
    pages' joined (so it is not stored twice)."""
    return record.model_dump_json(exclude={"text"})


def load_record(raw: str) -> FileRecord:
    """The record ``dump_record`` kept."""
    record = FileRecord.model_validate_json(raw)
    record.text = "\f".join(page.text for page in record.pages)
    return record


def live_status(status: JobStatus, lease_until: float | None) -> JobStatus:
    """A running job whose lease ran out has lost its coordinator: it is interrupted."""
    if status.active and lease_until is not None and lease_until < time.time():
        return JobStatus.interrupted
    return status
