"""Progress and summary figures read from a stored job row."""

from __future__ import annotations

import time

from ocr_ray.models import CallbackState, JobStatus, JobSummary, Progress
from ocr_ray.store import JobRow


def progress_of(row: JobRow) -> Progress:
    """Progress figures from a stored job row."""
    scanned = row.expected_total if row.scan_complete and row.expected_total is not None else None
    total = scanned if scanned is not None else max(row.total, row.expected_total or 0)
    done = row.done
    rate, eta = 0.0, None
    if row.started_at:
        elapsed = max((row.finished_at or time.time()) - row.started_at, 1e-6)
        rate = (done - row.done_at_start) / elapsed
        running = row.status is JobStatus.running
        eta = (total - done) / rate if running and rate > 0 and scanned is not None else None
    return Progress(
        job_id=row.id,
        status=row.status,
        current=done,
        total=total,
        total_known=scanned is not None,
        percentage=round(100.0 * done / total, 2)
        if total
        else (100.0 if row.status.finished else 0.0),
        succeeded=row.succeeded,
        failed=row.failed,
        skipped=row.skipped,
        pages=row.pages,
        review_pages=row.review_pages,
        rate=round(rate, 3),
        eta_s=None if eta is None else round(eta, 1),
        finish_at=None if eta is None else round(time.time() + eta),
        error=row.error,
        user=row.user,
        callback=_callback(row),
    )


def _callback(row: JobRow) -> CallbackState | None:
    """The job's webhook so far: pending with no attempts until the job ends."""
    if row.callback is not None or not row.params.callback_url:
        return row.callback
    return CallbackState(url=row.params.callback_url)


def summary_of(row: JobRow, failures: dict[str, int]) -> JobSummary:
    """The job's summary figures."""
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
        total_characters=row.characters,
        average_confidence=(
            round(row.confidence_sum / row.confidence_count, 2) if row.confidence_count else None
        ),
        languages=row.params.languages,
        provider=row.params.provider,
        elapsed_s=round(elapsed, 3),
        pages_per_second=round(row.pages / elapsed, 3) if elapsed > 0 else 0.0,
        failures_by_code=failures,
    )
