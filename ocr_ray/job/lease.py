"""A running job's lease: proof, renewed in the store, that its coordinator is alive.

A coordinator killed outright (SIGKILL, a lost node) cannot mark its job as stopped, so
readers treat a job whose lease ran out as interrupted, and ``resume`` refuses a job
whose lease is still fresh (two coordinators would process the same files).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from ocr_ray.store import JobStore

MISSED_RENEWALS = 3  # a lease outlives this many renewal periods
log = logging.getLogger(__name__)


class Lease:
    """Renews ``job_id``'s lease every ``period_s`` on a daemon thread while in use."""

    def __init__(self, store: JobStore, job_id: str, period_s: float) -> None:
        self.store, self.job_id, self.period_s = store, job_id, period_s
        self.length_s = period_s * MISSED_RENEWALS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="ocr-ray-lease")

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.store.renew_lease(job_id=self.job_id, lease_s=self.length_s)
            except Exception:  # a busy store: the next renewal still comes in time
                log.warning("could not renew the lease of job %s", self.job_id, exc_info=True)
