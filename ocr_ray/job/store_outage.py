"""A coordinator's store calls wait out a store outage instead of failing the job.

While the store does not answer, the coordinator is held in the call it was making:
the records not yet written stay in its memory, the results of tasks still running
stay in Ray's object store, and no new task is sent. When the store answers again the
call goes through and the job carries on; every write is keyed, so a write that
reached the store before the answer was lost is never counted twice.
"""

from __future__ import annotations

import time
from typing import Any, cast

from ocr_ray.exceptions import StoreUnavailableError
from ocr_ray.job.narration import say
from ocr_ray.store import JobStore

_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.5, 5.0


class _Patient:
    def __init__(self, store: JobStore, wait_s: float, narrate: bool) -> None:
        self._store, self._wait_s, self._narrate = store, wait_s, narrate

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        return lambda *args, **kwargs: self._call(name, method, args, kwargs)

    def _call(self, name: str, method: Any, args: Any, kwargs: Any) -> Any:
        since, pause = None, _FIRST_PAUSE_S
        while True:
            try:
                result = method(*args, **kwargs)
            except StoreUnavailableError as exc:
                now = time.monotonic()
                if since is None:
                    since = now
                    self._say(f"{exc}; the job holds its results and waits for it")
                if now - since >= self._wait_s:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE_S)
                continue
            if since is not None:
                self._say(f"the job store answers again after {time.monotonic() - since:.0f} s")
            return result

    def _say(self, message: str) -> None:
        if self._narrate:
            say(message)


def patient(store: JobStore, wait_s: float, *, narrate: bool = True) -> JobStore:
    """``store``, with every call retried while the store is unavailable, up to
    ``wait_s`` seconds (then ``StoreUnavailableError``); ``narrate`` says so."""
    return cast(JobStore, _Patient(store, wait_s, narrate))
