"""Progress and summary figures read from a stored job row."""

from __future__ import annotations

import itertools
import time

from ocr_ray.models import (
    FAILED_FILES_LISTED,
    CallbackState,
    FailedFile,
    FileStatus,
    JobStatus,
    JobSummary,
    Progress,
)
from ocr_ray.store import JobRow, JobStore

# How many of a job's inputs its progress names (a retry job's may be thousands of files).
INPUTS_LISTED = 10


def progress_of(row: JobRow) -> Progress:
    """Progress figures from a stored job row: files, and pages as far as they are known."""
    scanned = row.expected_total if row.scan_complete and row.expected_total is not None else None
    total = scanned if scanned is not None else max(row.total, row.expected_total or 0)
    done, pages = row.done, _Pages(row, total)
    elapsed = _run_elapsed(row)
    rate = (done - row.done_at_start) / elapsed if elapsed else 0.0
    page_rate = (pages.done - row.pages_at_start) / elapsed if elapsed else 0.0
    eta = None
    if row.status is JobStatus.running and scanned is not None:
        if page_rate > 0:  # pages, not files: one long PDF is most of some jobs
            eta = max(pages.estimated_total - pages.done, 0) / page_rate
        elif rate > 0:
            eta = (total - done) / rate
    read = done - row.cancelled_files  # a cancelled job's skipped files were never read
    return Progress(
        job_id=row.id,
        status=row.status,
        current=done,
        total=total,
        total_known=scanned is not None,
        percentage=round(100.0 * read / total, 2)
        if total
        else (100.0 if row.status is JobStatus.completed else 0.0),
        succeeded=row.succeeded,
        failed=row.failed,
        skipped=row.skipped,
        cancelled_files=row.cancelled_files,
        pages=row.pages,
        pages_done=pages.done,
        pages_total=pages.known,
        pages_total_known=scanned is not None and pages.unprobed == 0,
        review_pages=row.review_pages,
        rate=round(rate, 3),
        pages_rate=round(page_rate, 3),
        eta_s=None if eta is None else round(eta, 1),
        finish_at=None if eta is None else round(time.time() + eta),
        error=row.error,
        user=row.user,
        callback=_callback(row),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        inputs=row.params.paths[:INPUTS_LISTED],
        options=row.params.option_values(),
        retry_of=row.params.retry_of,
    )


class _Pages:
    """A job's pages: read so far, and known so far from the probes of its files."""

    def __init__(self, row: JobRow, total_files: int) -> None:
        self.done = row.pages + row.pages_reading
        self.known = row.pages + row.pages_queued
        probed = row.done + row.files_queued
        self.unprobed = max(total_files - probed, 0)
        # Files not probed yet are taken to be like those probed so far.
        self.estimated_total = self.known + self.unprobed * self.known / max(probed, 1)


def _run_elapsed(row: JobRow) -> float:
    """Seconds the current (or last) run has taken; 0 before it started."""
    if not row.started_at:
        return 0.0
    return max((row.finished_at or time.time()) - row.started_at, 1e-6)


def _callback(row: JobRow) -> CallbackState | None:
    """The job's webhook so far: pending with no attempts until the job ends."""
    if row.callback is not None or not row.params.callback_url:
        return row.callback
    return CallbackState(url=row.params.callback_url)


def summary_of(store: JobStore, row: JobRow) -> JobSummary:
    """The job's summary: figures, what it was asked to do, and its first failed files."""
    elapsed = row.elapsed_prior_s
    if row.started_at and not row.finished_at:
        elapsed += time.time() - row.started_at
    return JobSummary(
        job_id=row.id,
        status=row.status,
        total_files=row.done,
        succeeded=row.succeeded,
        failed=row.failed,
        skipped=row.skipped,
        pages=row.pages,
        review_pages=row.review_pages,
        warnings_by_code=row.warnings_by_code(),
        pages_by_source=row.pages_by_source(),
        total_characters=row.characters,
        average_confidence=(
            round(row.confidence_sum / row.confidence_count, 2) if row.confidence_count else None
        ),
        languages=row.params.languages,
        provider=row.params.provider,
        elapsed_s=round(elapsed, 3),
        pages_per_second=round(row.pages / elapsed, 3) if elapsed > 0 else 0.0,
        failures_by_code=store.failures_by_code(job_id=row.id),
        inputs=row.params.paths[:INPUTS_LISTED],
        options=row.params.option_values(),
        started_at=row.started_at,
        finished_at=row.finished_at,
        failed_files=_first_failed(store, row.id),
    )


def _first_failed(store: JobStore, job_id: str) -> list[FailedFile]:
    """The first ``FAILED_FILES_LISTED`` failed files, in scan order."""
    records = store.iter_records(job_id=job_id, status=FileStatus.failed)
    try:
        return [
            FailedFile(path=r.path, code=r.error.code, message=r.error.message)
            for r in itertools.islice(records, FAILED_FILES_LISTED)
            if r.error is not None
        ]
    finally:
        close = getattr(records, "close", None)
        if close is not None:  # ends the export cursor's read at once
            close()
