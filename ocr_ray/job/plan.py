"""Capacity planning: how many cores and workers a number of pages needs in a time."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ocr_ray.exceptions import UsageError
from ocr_ray.store import JobRow, JobStore

# Pages per second per core of Tesseract through ocr_ray on 300 dpi book pages, measured
# on the 2-core development machine (benchmarks/bench_throughput.py: 1.59 pages/s).
DEFAULT_PAGES_PER_CORE_S = 0.75
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_MIN_PAGES = 20  # fewer pages than this say too little about a cluster's rate


def parse_duration(text: str) -> float:
    """Seconds in ``7d``, ``36h``, ``90m``, ``2w`` or ``600s``."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"not a duration: {text!r}; use a number and s, m, h, d or w (7d)")
    seconds = float(match[1]) * _UNITS_S[match[2]]
    if seconds <= 0:
        raise UsageError("the duration must be more than zero")
    return seconds


@dataclass(frozen=True)
class Rate:
    """Pages per second one core reads, and where the figure comes from."""

    pages_per_core_s: float
    source: str


def measured_rate(store: JobStore, *, recent: int = 50) -> Rate | None:
    """The rate of the newest finished job that read enough pages on a known cluster."""
    for row in store.list_jobs(limit=recent):
        rate = _rate_of(row)
        if rate is not None:
            return rate
    return None


def _rate_of(row: JobRow) -> Rate | None:
    elapsed = row.elapsed_prior_s
    if not (row.status.finished and row.cpus and row.pages >= _MIN_PAGES and elapsed > 0):
        return None
    per_core = row.pages / elapsed / row.cpus
    return Rate(
        per_core,
        f"job {row.id}: {row.pages} pages in {elapsed:.0f} s on {row.cpus:g} CPUs",
    )


@dataclass(frozen=True)
class Plan:
    """What ``pages`` in ``seconds`` need at ``rate``."""

    pages: int
    seconds: float
    rate: Rate
    utilisation: float
    cores_per_worker: int
    files: int | None = None

    @property
    def pages_per_s(self) -> float:
        """The pace the whole cluster must keep."""
        return self.pages / self.seconds

    @property
    def cores(self) -> int:
        """Cores, with headroom for retries, stragglers and restarts."""
        return max(1, math.ceil(self.pages_per_s / (self.rate.pages_per_core_s * self.utilisation)))

    @property
    def workers(self) -> int:
        """Worker nodes of ``cores_per_worker`` cores."""
        return math.ceil(self.cores / self.cores_per_worker)

    def lines(self) -> list[str]:
        """The plan, as printed by ``ocr-ray plan``."""
        days = self.seconds / 86400
        out = [
            f"{self.pages:,} pages in {days:g} days: {self.pages_per_s:.2f} pages/s",
            f"rate: {self.rate.pages_per_core_s:.3f} pages/s per core ({self.rate.source})",
            f"cores: {self.cores} (at {self.utilisation:.0%} busy)",
            f"workers: {self.workers} of {self.cores_per_worker} cores",
            f"worker memory: about {self.cores_per_worker * 0.35:.1f} GB each "
            "(0.35 GB per core: a loaded engine and a 300 dpi page)",
        ]
        if self.files:
            out.append(
                f"files: {self.files:,}, {self.files / self.seconds:.2f} files/s for one "
                "coordinator (it sustains thousands: see the README)"
            )
        return out
