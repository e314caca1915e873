"""The coordinator: scan -> probe -> schedule Ray tasks with backpressure -> store records.

It is the only writer of the job's results, whether it runs in a driver thread or in a
detached actor, so a retried or duplicated task can never be counted twice.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ray

from ocr_ray._confine import escapes, refusal
from ocr_ray._documents import Probe, has_supported_suffix, probe_file
from ocr_ray._engines import get_provider
from ocr_ray._lease import Lease
from ocr_ray._metrics import record_file, set_jobs_running
from ocr_ray._outputs import ArchiveWriter
from ocr_ray._pipeline import PageRange, ReadOptions
from ocr_ray._records import Assembly, duplicate_record, failed_record, skipped_record
from ocr_ray._scan import iter_files
from ocr_ray._tasks import TaskOptions, UnitResult, ocr_unit, probe
from ocr_ray._version import __version__
from ocr_ray.exceptions import (
    EngineUnavailableError,
    ErrorCode,
    FileError,
    OutsideInputRootError,
)
from ocr_ray.models import (
    ARCHIVE_FORMATS,
    ErrorInfo,
    FileRecord,
    FileStatus,
    JobParams,
    JobStatus,
)
from ocr_ray.settings import Settings
from ocr_ray.store import Store

_WAIT_S = 0.5
_REGISTER_BATCH = 256
_CAPACITY_REFRESH_S = 10.0
_Probed = Probe | FileRecord
_running: set[str] = set()  # jobs coordinated by this process, for the jobs-running gauge
_LOST_ERRORS = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OutOfMemoryError,
    ray.exceptions.LocalRayletDiedError,
)


@dataclass
class _InFlight:
    unit: PageRange
    submitted_at: float
    timed_out: bool = False


class Coordinator:
    """Runs one job to completion (or cancel/interrupt), writing records in batches."""

    def __init__(self, *, store: Store, job_id: str, params: JobParams, settings: Settings):
        self.store, self.job_id, self.params, self.settings = store, job_id, params, settings
        archive = tuple(f for f in ARCHIVE_FORMATS if f in params.export_formats)
        self.options = TaskOptions(
            provider=params.provider,
            languages=tuple(params.languages),
            read=ReadOptions(
                dpi=params.dpi,
                skip_text=params.skip_text,
                rotate=params.rotate,
                low_confidence=settings.low_confidence,
                hocr=bool(archive),
                deskew=params.deskew,
            ),
            timeout_s=params.timeout_per_file_s,
            archive=archive,
            input_root=params.input_root,
        )
        self._archive = (
            ArchiveWriter(Path(params.output_dir or "."), archive, params.paths)
            if archive
            else None
        )
        self._provider = get_provider(params.provider)
        self._stop = threading.Event()
        self._inflight: dict[ray.ObjectRef, _InFlight] = {}
        self._assemblies: dict[str, Assembly] = {}
        self._waiting_on_sha: dict[str, list[Probe]] = {}
        self._ready_units: deque[tuple[PageRange, int]] = deque()
        self._writes: list[FileRecord] = []
        self._last_flush = time.monotonic()
        self._window, self._window_checked = 2, 0.0

    def stop(self) -> None:
        """Ask the loop to end soon, leaving unfinished files pending for a resume."""
        self._stop.set()

    # Top level -----------------------------------------------------------------
    def run(self) -> JobStatus:
        """Process the job; returns its final status."""
        lease = Lease(self.store, self.job_id, self.settings.heartbeat_s)
        self.store.start_run(job_id=self.job_id, lease_s=lease.length_s)
        _running.add(self.job_id)
        set_jobs_running(len(_running))
        with lease:  # held until the final status is written
            try:
                status = self._process()
            except BaseException as exc:
                self._flush()
                error = f"{type(exc).__name__}: {exc}"
                self.store.finish_run(job_id=self.job_id, status=JobStatus.failed, error=error)
                raise
            finally:
                _running.discard(self.job_id)
                set_jobs_running(len(_running))
            self._flush()
            self.store.finish_run(job_id=self.job_id, status=status)
        return status

    def _process(self) -> JobStatus:
        self._probe_engine()
        counter = threading.Thread(target=self._count_inputs, daemon=True, name="ocr-ray-count")
        counter.start()
        with ThreadPoolExecutor(self.settings.probe_threads, thread_name_prefix="probe") as pool:
            candidates = self._register(self._scan())
            probed = _Prefetch(pool, self._probe, candidates, self.settings.probe_threads * 4)
            status = self._schedule(probed)
            if status is JobStatus.cancelled:
                self._cancel_rest(probed)
        if self._archive is not None:
            self._archive.close()
        return status

    def _schedule(self, probed: _Prefetch) -> JobStatus:
        exhausted = False
        while True:
            if self._stop.is_set():
                return JobStatus.interrupted
            if self.store.cancel_requested(job_id=self.job_id):
                return JobStatus.cancelled
            exhausted = self._fill_window(probed) or exhausted
            if exhausted and not self._inflight and not self._ready_units:
                return JobStatus.completed
            self._collect()
            self._enforce_deadlines()
            self._flush_if_due()

    # Input side ------------------------------------------------------------------
    def _probe_engine(self) -> None:
        """Load the engine on a worker before any file is touched (one clear error)."""
        options = self._provider.resources(0)
        problem = ray.get(
            probe.options(name="ocr-ray probe engine", **options).remote(
                self.options.provider, self.options.languages
            )
        )
        if problem:
            raise EngineUnavailableError(problem)

    def _count_inputs(self) -> None:
        total = 0
        for total, _ in enumerate(self._scan(), 1):
            if total % 10_000 == 0:
                self.store.set_scan_total(job_id=self.job_id, total=total, complete=False)
        self.store.set_scan_total(job_id=self.job_id, total=total, complete=True)

    def _scan(self) -> Iterator[str]:
        p = self.params
        return iter_files(p.paths, recursive=p.recursive, root=p.input_root)

    def _register(self, paths: Iterator[str]) -> Iterator[str]:
        """Record each path as pending (in batches) and pass on those not yet finished."""
        seq = itertools.count()
        while batch := list(itertools.islice(paths, _REGISTER_BATCH)):
            finished = self.store.add_files(
                job_id=self.job_id, items=[(next(seq), path) for path in batch]
            )
            yield from (path for path in batch if path not in finished)

    def _probe(self, path: str) -> _Probed:
        """Runs on a probe thread: a Probe to schedule, or a final record."""
        languages = self.params.languages
        if escapes(path, self.params.input_root):
            return skipped_record(
                path, ErrorCode.outside_input_root, refusal(path), languages=languages
            )
        if not has_supported_suffix(path):
            return skipped_record(
                path,
                ErrorCode.unsupported_extension,
                f"{path}: not an image or PDF by its name; supported: PNG, JPEG, TIFF, BMP, "
                "GIF, WebP, PDF",
                languages=languages,
            )
        p = self.params
        try:
            return probe_file(path, dpi=p.dpi, max_pixels=p.max_image_pixels, root=p.input_root)
        except OutsideInputRootError as exc:  # the link was changed since the scan
            return skipped_record(path, exc.code, str(exc), languages=languages)
        except FileError as exc:
            return failed_record(path, exc, languages=languages)

    def _fill_window(self, probed: _Prefetch) -> bool:
        """Submit until the window is full; True when the input is exhausted."""
        window = self._current_window()
        while len(self._inflight) < window:
            if self._ready_units:
                self._submit(*self._ready_units.popleft())
                continue
            item = next(probed, None)
            if item is None:
                return True
            _, outcome = item
            if isinstance(outcome, FileRecord):
                self._write(outcome)
            else:
                self._admit(outcome)
            self._flush_if_due()
        return False

    def _admit(self, probe: Probe) -> None:
        """Reuse a result for identical content, or plan the file's page-range tasks."""
        if probe.sha256 in self._waiting_on_sha:
            self._waiting_on_sha[probe.sha256].append(probe)
            return
        original = self._known_result(probe.sha256)
        if original is not None and self._reuse(probe, original):
            return
        self._waiting_on_sha[probe.sha256] = []
        self._plan(probe)

    def _reuse(self, probe: Probe, original: FileRecord) -> bool:
        """Record ``probe`` as a copy of ``original``; False if its documents are gone."""
        record = duplicate_record(probe.path, probe, original)
        if self._archive is not None:
            outputs = self._archive.copy(original.outputs, probe.path)
            if outputs is None:
                return False
            record.outputs = outputs
        self._write(record)
        return True

    def _known_result(self, sha256: str) -> FileRecord | None:
        for record in self._writes:
            if record.sha256 == sha256 and record.status is FileStatus.succeeded:
                return record
        found = self.store.find_by_sha(job_id=self.job_id, sha256=sha256)
        # Another job's documents are not under this job's output folder.
        if found is None and self.params.cache and self._archive is None:
            found = self.store.cache_get(key=self._cache_key(sha256))
        return found

    def _plan(self, probe: Probe) -> None:
        size = self.settings.pages_per_task
        starts = range(0, probe.page_count, size)
        self._assemblies[probe.path] = Assembly(probe, self.params.languages, len(starts))
        for first in starts:
            last = min(first + size, probe.page_count) - 1
            self._ready_units.append(
                (PageRange(probe.path, probe.kind, first, last), probe.max_page_pixels)
            )

    def _submit(self, unit: PageRange, pixels: int) -> None:
        name = unit.path.rsplit("/", 1)[-1]
        if unit.first or unit.last:
            name += f"[p{unit.first + 1}-{unit.last + 1}]"
        ref = ocr_unit.options(
            name=f"ocr {name}"[:200],
            max_retries=self.settings.max_retries,
            **self._provider.resources(pixels),
        ).remote(unit, self.options)
        self._inflight[ref] = _InFlight(unit, time.monotonic())

    # Output side ----------------------------------------------------------------
    def _collect(self) -> None:
        if not self._inflight:
            return
        refs = list(self._inflight)
        ready, _ = ray.wait(refs, num_returns=1, timeout=_WAIT_S)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            self._deliver(self._result_of(ref, self._inflight.pop(ref)))

    def _result_of(self, ref: ray.ObjectRef, flight: _InFlight) -> UnitResult:
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            code, message = (
                ErrorCode.timeout,
                (
                    f"{flight.unit.path}: the engine did not stop at its "
                    f"{self.params.timeout_per_file_s:g} s timeout; its worker was restarted"
                ),
            )
        except _LOST_ERRORS as exc:
            code = ErrorCode.worker_lost
            message = (
                f"{flight.unit.path}: the worker or node running it died "
                f"{self.settings.max_retries + 1} times: {type(exc).__name__}"
            )
        except ray.exceptions.RayError as exc:
            code, message = ErrorCode.engine_error, f"{flight.unit.path}: {exc}"
        attempts = self.settings.max_retries + 1 if code is ErrorCode.worker_lost else 1
        return UnitResult(
            unit=flight.unit, error=ErrorInfo(code=code.value, message=message), attempts=attempts
        )

    def _deliver(self, part: UnitResult) -> None:
        assembly = self._assemblies[part.unit.path]
        if self._archive is not None and part.archive:
            self._archive.stage(part.unit.path, part.unit.first, part.archive)
            part.archive = {}
        assembly.add(part)
        if not assembly.complete:
            return
        del self._assemblies[part.unit.path]
        record = self._finish(assembly)
        self._write(record)
        waiting = self._waiting_on_sha.pop(assembly.probe.sha256, [])
        if record.status is FileStatus.succeeded:
            if self.params.cache:
                self.store.cache_put(key=self._cache_key(assembly.probe.sha256), record=record)
            for probe in waiting:
                if not self._reuse(probe, record):
                    self._plan(probe)
        else:
            for probe in waiting:  # failures can be path-specific: read each copy itself
                self._plan(probe)

    def _finish(self, assembly: Assembly) -> FileRecord:
        """The file's record, with its archive documents assembled if it succeeded."""
        record = assembly.record()
        if self._archive is None:
            return record
        if record.status is not FileStatus.succeeded:
            self._archive.discard(record.path)
            return record
        firsts = [part.unit.first for part in assembly.parts]
        system = f"{record.engine or self.params.provider} {record.engine_version or ''}".strip()
        try:
            record.outputs = self._archive.finish(record.path, firsts, system)
        except Exception as exc:  # disk full, a damaged part: this file fails, not the job
            self._archive.discard(record.path)
            record.status = FileStatus.failed
            record.error = ErrorInfo(
                code=ErrorCode.output_failed.value,
                message=f"{record.path}: its {', '.join(self.options.archive)} could not be "
                f"written: {type(exc).__name__}: {exc}",
            )
        return record

    def _enforce_deadlines(self) -> None:
        """Backstop for an engine that ignores the in-task timeout: kill its worker."""
        limit = 2 * self.params.timeout_per_file_s + 60
        now = time.monotonic()
        for ref, flight in self._inflight.items():
            if not flight.timed_out and now - flight.submitted_at > limit:
                flight.timed_out = True
                ray.cancel(ref, force=True)

    def _cancel_rest(self, probed: _Prefetch) -> None:
        """Record everything not finished as skipped, so every file still appears once."""
        for ref in self._inflight:
            ray.cancel(ref)
        in_memory = [f.unit.path for f in self._inflight.values()]
        in_memory += [unit.path for unit, _ in self._ready_units]
        in_memory += [p.path for group in self._waiting_on_sha.values() for p in group]
        for path in itertools.chain(dict.fromkeys(in_memory), probed.unprobed()):
            self._write(
                skipped_record(
                    path,
                    ErrorCode.cancelled,
                    "the job was cancelled before this file was read",
                    languages=self.params.languages,
                )
            )
            self._flush_if_due()

    # Housekeeping -----------------------------------------------------------------
    def _write(self, record: FileRecord) -> None:
        self._writes.append(record)
        record_file(record, self.params.provider)

    def _flush_if_due(self) -> None:
        due = time.monotonic() - self._last_flush >= self.settings.write_interval_s
        if due or len(self._writes) >= self.settings.write_batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._writes:
            self.store.complete_files(job_id=self.job_id, records=self._writes)
            self._writes = []
        self._last_flush = time.monotonic()

    def _current_window(self) -> int:
        if self.settings.max_in_flight:
            return self.settings.max_in_flight
        if time.monotonic() - self._window_checked > _CAPACITY_REFRESH_S:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self._window, self._window_checked = max(2, 2 * cpus), time.monotonic()
        return self._window

    def _cache_key(self, sha256: str) -> str:
        p = self.params
        parts = [
            sha256,
            p.provider,
            "+".join(p.languages),
            str(p.dpi),
            str(p.skip_text),
            str(p.rotate),
            str(p.deskew),
            __version__,
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


class _Prefetch:
    """Probe paths on a thread pool, in order, with at most ``depth`` probes ahead."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[[str], _Probed],
        items: Iterator[str],
        depth: int,
    ):
        self._pool, self._fn, self._items, self._depth = pool, fn, items, depth
        self._queue: deque[tuple[str, Future[_Probed]]] = deque()

    def __iter__(self) -> Iterator[tuple[str, _Probed]]:
        return self

    def __next__(self) -> tuple[str, _Probed]:
        while len(self._queue) < self._depth:
            item = next(self._items, None)
            if item is None:
                break
            self._queue.append((item, self._pool.submit(self._fn, item)))
        if not self._queue:
            raise StopIteration
        path, future = self._queue.popleft()
        return path, future.result()

    def unprobed(self) -> Iterator[str]:
        """Every path not yet handed out, without probing it (used on cancel)."""
        while self._queue:
            path, future = self._queue.popleft()
            future.cancel()
            yield path
        yield from self._items
