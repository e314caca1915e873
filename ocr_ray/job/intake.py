"""The input side of a job: one walk of the tree into the store, then probes on workers.

A scanner thread walks the inputs once and registers every file in the store as
pending, in batches, with the running count; nothing else walks the tree. The
coordinator reads the pending files back from the store in registration order (so a
resumed job reads only what is left) and sends them to the workers to be probed, a
batch of paths per Ray task, a few batches ahead of the OCR.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator

import ray

from ocr_ray.exceptions import ErrorCode, FileError
from ocr_ray.inputs.scan import Found, WalkError, iter_files
from ocr_ray.job.inflight import InFlight
from ocr_ray.job.probing import Probed, ProbeSpec, probe_files
from ocr_ray.job.records import failed_record
from ocr_ray.models import FileRecord
from ocr_ray.params import JobParams, pick
from ocr_ray.store import JobStore

_REGISTER_BATCH = 1024
_SCAN_REPORT_EVERY = 10_000  # files between scan totals written while the walk goes on


class Intake:
    """Feeds the coordinator probed files, in batches, from one walk of the inputs."""

    def __init__(self, store: JobStore, job_id: str, params: JobParams, *, batch: int) -> None:
        self.store, self.job_id, self.params, self.batch = store, job_id, params, batch
        self.spec = pick(ProbeSpec, params)
        self._cursor = 0  # the store row of the last pending file taken
        self._scanned = threading.Event()
        self._scan_error: BaseException | None = None
        self._inflight: InFlight[str] = InFlight()
        self._taken: deque[str] = deque()  # read from the store, not yet sent to probe
        self._alone: deque[str] = deque()  # to probe one to a task: their batch failed
        self._scanner = threading.Thread(target=self._scan, daemon=True, name="ocr-ray-scan")

    # The walk ----------------------------------------------------------------------
    def start(self) -> None:
        """Start walking the inputs (on a thread; the store holds what it finds)."""
        self._scanner.start()

    def _scan(self) -> None:
        p, total = self.params, 0
        found = iter_files(p.paths, recursive=p.recursive, root=p.input_root)
        try:
            seq = itertools.count()
            while batch := list(itertools.islice(found, _REGISTER_BATCH)):
                items = [(next(seq), _path(x)) for x in batch]
                final = [self._walk_failed(x) for x in batch if isinstance(x, WalkError)]
                self.store.add_files(job_id=self.job_id, items=items, final=final)
                total += len(batch)
                if total % _SCAN_REPORT_EVERY < len(batch):
                    self.store.set_scan_total(job_id=self.job_id, total=total, complete=False)
            self.store.set_scan_total(job_id=self.job_id, total=total, complete=True)
        except BaseException as exc:  # surfaced by the coordinator's loop
            self._scan_error = exc
        finally:
            self._scanned.set()

    def _walk_failed(self, error: WalkError) -> FileRecord:
        failure = FileError(error.message, code=error.code)
        return failed_record(error.path, failure, languages=self.params.languages)

    # Probing -----------------------------------------------------------------------
    @property
    def refs(self) -> list[ray.ObjectRef]:
        """The probe tasks in flight."""
        return self._inflight.refs

    @property
    def exhausted(self) -> bool:
        """Every file was walked, taken from the store and probed."""
        if not self._scanned.is_set() or self._inflight or self._alone:
            return False
        self._refill()
        return not self._taken

    def feed(self, batches: int) -> None:
        """Keep up to ``batches`` probe tasks in flight."""
        if self._scan_error is not None:
            raise self._scan_error
        while len(self._inflight) < batches:
            paths = [self._alone.popleft()] if self._alone else self._next_paths()
            if not paths:
                return
            ref = probe_files.options(name=f"probe {self.job_id}").remote(paths, self.spec)
            self._inflight.add(ref, paths)

    def collect(self, ready: list[ray.ObjectRef]) -> Iterator[Probed]:
        """The outcomes of the probe tasks among ``ready``, in path order per task.

        A probe task that did not return (its worker died on every retry: a file that
        crashes the image or PDF library) is not the job's end: its paths are probed
        again one to a task, and the one that still fails is recorded as failed.
        """
        for paths, result in self._inflight.collect(ready, split=self._alone.extend):
            if isinstance(result, ray.exceptions.RayError):
                yield _probe_failed(paths[0], result, self.spec)
            else:
                yield from result

    def unread(self) -> Iterator[str]:
        """Every file not yet probed, once the walk is over (a cancelled job's rest)."""
        yield from self._inflight.cancel_all()
        while self._alone:
            yield self._alone.popleft()
        self._scanned.wait()
        while paths := self._next_paths():
            yield from paths

    def _next_paths(self) -> list[str]:
        self._refill()
        return [self._taken.popleft() for _ in range(min(self.batch, len(self._taken)))]

    def _refill(self) -> None:
        """Read the next pending files from the store (registered by the walk)."""
        if len(self._taken) >= self.batch:
            return
        rows = self.store.pending_files(job_id=self.job_id, after=self._cursor, limit=self.batch)
        if rows:
            self._cursor = rows[-1][0]
            self._taken.extend(path for _, path in rows)


def _path(found: Found) -> str:
    return found.path if isinstance(found, WalkError) else found


def _probe_failed(path: str, exc: ray.exceptions.RayError, spec: ProbeSpec) -> FileRecord:
    """The record of a file whose probe killed its worker on every try."""
    error = FileError(
        f"{path}: reading its header stopped the worker every time: {type(exc).__name__}",
        code=ErrorCode.worker_lost,
    )
    return failed_record(path, error, languages=list(spec.languages))
