"""Prometheus metrics through Ray's metrics API (shown on Ray's metrics endpoint and dashboard)."""

from __future__ import annotations

import functools
from typing import Any

from ocr_ray.models import FileRecord

_SECONDS_BUCKETS = [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600]


@functools.lru_cache(maxsize=1)
def _instruments() -> dict[str, Any]:
    from ray.util import metrics

    return {
        "files": metrics.Counter(
            "ocr_ray_files",
            "Files finished, by status and error code.",
            tag_keys=("status", "error_code", "provider"),
        ),
        "pages": metrics.Counter("ocr_ray_pages", "Pages read.", tag_keys=("provider",)),
        "seconds": metrics.Histogram(
            "ocr_ray_file_ocr_seconds",
            "OCR seconds per file.",
            boundaries=_SECONDS_BUCKETS,
            tag_keys=("provider",),
        ),
        "jobs": metrics.Gauge("ocr_ray_jobs_running", "Jobs running in this process."),
    }


def record_file(record: FileRecord, provider: str) -> None:
    """Count one finished file."""
    try:
        found = _instruments()
    except Exception:  # metrics need a connected Ray; never fail a job for them
        return
    code = record.error.code if record.error else ""
    found["files"].inc(
        tags={"status": record.status.value, "error_code": code, "provider": provider}
    )
    if record.pages:
        found["pages"].inc(len(record.pages), tags={"provider": provider})
    if record.duration_s:
        found["seconds"].observe(record.duration_s, tags={"provider": provider})


def set_jobs_running(count: int) -> None:
    """Report how many jobs this process is coordinating."""
    try:
        _instruments()["jobs"].set(count)
    except Exception:  # as above
        return
