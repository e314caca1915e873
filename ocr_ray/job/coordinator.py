"""The coordinator: one job's loop over its three parts.

* ``Intake`` (``intake.py``): one walk of the inputs into the store; probes on workers.
* ``Dispatcher`` (``dispatch.py``): page ranges packed into Ray tasks, with backpressure.
* ``Recorder`` (``recording.py``): results into one record per file, written in batches.

The coordinator itself decides what each probed file needs (a copy of identical content
already read, or its page ranges) and when the job is over. It holds only what is in
flight, so its memory does not grow with the job.
"""

from __future__ import annotations

import itertools
import threading
import time

import ray

from ocr_ray.engines import get_provider
from ocr_ray.exceptions import EngineUnavailableError, ErrorCode
from ocr_ray.formats import of_kind
from ocr_ray.inputs.documents import Probe
from ocr_ray.inputs.pipeline import PageRange, ReadOptions
from ocr_ray.job.dispatch import Dispatcher, Unit
from ocr_ray.job.intake import Intake
from ocr_ray.job.lease import Lease
from ocr_ray.job.metrics import set_jobs_running
from ocr_ray.job.narration import say
from ocr_ray.job.recording import Recorder
from ocr_ray.job.records import skipped_record
from ocr_ray.job.store_outage import patient
from ocr_ray.job.tasks import TaskOptions, UnitResult, probe_engine_task
from ocr_ray.models import FileRecord, FileStatus, JobStatus
from ocr_ray.params import JobParams, pick
from ocr_ray.plugins import DocumentFormat
from ocr_ray.settings import Settings
from ocr_ray.store import JobStore

_WAIT_S = 0.5
_IDLE_S = 0.05  # nothing in flight yet: the walk has not registered anything new
_LOOKAHEAD_UNITS = 20_000  # probed ranges kept ready at most, whatever the cluster's size
_running: set[str] = set()  # jobs coordinated by this process, for the jobs-running gauge


class Coordinator:
    """Runs one job to completion (or cancel/interrupt)."""

    def __init__(self, *, store: JobStore, job_id: str, params: JobParams, settings: Settings):
        store = patient(store, settings.store_outage_s)  # an outage holds the job, not ends it
        self.store, self.job_id, self.params, self.settings = store, job_id, params, settings
        documents = of_kind(params.export_formats, DocumentFormat)
        read = pick(
            ReadOptions,
            params,
            low_confidence=settings.low_confidence,
            hocr=any("hocr" in f.needs for f in documents),
        )
        self.options = pick(
            TaskOptions, params, read=read, formats=tuple(f.name for f in documents)
        )
        self._provider = get_provider(params.provider)
        self.intake = Intake(store, job_id, params, batch=settings.probe_batch)
        self.dispatcher = Dispatcher(
            self.options,
            self._provider,
            settings,
            name=f"ocr {job_id}",
            ask_for_more=params.use_swarm is not False,
        )
        self.recorder = Recorder(store, job_id, params, settings)
        self._waiting_on_sha: dict[str, list[Probe]] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end soon, leaving unfinished files pending for a resume."""
        self._stop.set()

    # Top level -----------------------------------------------------------------------
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
                self.recorder.flush()
                error = f"{type(exc).__name__}: {exc}"
                self.store.finish_run(job_id=self.job_id, status=JobStatus.failed, error=error)
                raise
            finally:
                _running.discard(self.job_id)
                set_jobs_running(len(_running))
            self.recorder.flush()
            self.store.finish_run(
                job_id=self.job_id, status=status, cpus=self.dispatcher.most_cpus or None
            )
        return status

    def _process(self) -> JobStatus:
        self._probe_engine()
        self.intake.start()
        status = self._loop()
        if status is JobStatus.cancelled:
            self._cancel_rest()
        self.recorder.close()
        return status

    def _loop(self) -> JobStatus:
        while True:
            if self._stop.is_set():
                return JobStatus.interrupted
            if self.store.cancel_requested(job_id=self.job_id):
                return JobStatus.cancelled
            self._feed()
            if self.intake.exhausted and self.dispatcher.idle:
                return JobStatus.completed
            ready = self._wait()
            for outcome in self.intake.collect(ready):
                self._admit(outcome)
            for part in self.dispatcher.collect(ready):
                self._deliver(part)
            self.dispatcher.submit()
            self.dispatcher.enforce_deadlines()
            self.recorder.flush_if_due()

    def _feed(self) -> None:
        """Send ready ranges, and probe enough files ahead to keep every slot busy."""
        self.dispatcher.submit()
        wanted = min(self.dispatcher.window() * self.settings.max_files_per_task, _LOOKAHEAD_UNITS)
        if self.dispatcher.waiting < wanted:
            batches = -(-wanted // self.settings.probe_batch)
            self.intake.feed(batches=max(2, min(batches, 64)))

    def _wait(self) -> list[ray.ObjectRef]:
        """Tasks that have finished, waiting up to half a second for the first."""
        refs = self.intake.refs + self.dispatcher.refs
        if not refs:
            time.sleep(_IDLE_S)
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=_WAIT_S)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def _probe_engine(self) -> None:
        """Load the engine on a worker before any file is touched (one clear error)."""
        say(f"probing the engine: {self.options.provider} ({'+'.join(self.options.languages)})")
        options = self._provider.resources(0)
        problem = ray.get(
            probe_engine_task.options(name="ocr-ray probe engine", **options).remote(
                self.options.provider, self.options.languages
            )
        )
        if problem:
            raise EngineUnavailableError(problem)

    # Deciding what a file needs ---------------------------------------------------------
    def _admit(self, outcome: Probe | FileRecord) -> None:
        """Record a bad file; reuse a result for identical content; or plan its ranges."""
        if isinstance(outcome, FileRecord):
            self.recorder.write(outcome)
            return
        if outcome.sha256 in self._waiting_on_sha:
            self._waiting_on_sha[outcome.sha256].append(outcome)
            return
        original = self.recorder.known_result(outcome.sha256)
        if original is not None and self.recorder.reuse(outcome, original):
            return
        self._waiting_on_sha[outcome.sha256] = []
        self._plan(outcome)

    def _plan(self, probe: Probe) -> None:
        size = self.settings.pages_per_task
        starts = range(0, probe.page_count, size)
        self.recorder.expect(probe, len(starts))
        for first in starts:
            last = min(first + size, probe.page_count) - 1
            pages = last - first + 1
            unit = PageRange(probe.path, probe.kind, first, last)
            self.dispatcher.enqueue(
                Unit(unit, probe.max_page_pixels * pages, probe.max_page_pixels)
            )

    def _deliver(self, part: UnitResult) -> None:
        record = self.recorder.deliver(part)
        if record is None:
            return
        waiting = self._waiting_on_sha.pop(record.sha256 or "", [])
        for copy in waiting:  # failures can be path-specific: read each copy itself
            if record.status is not FileStatus.succeeded or not self.recorder.reuse(copy, record):
                self._plan(copy)

    # Cancelling ---------------------------------------------------------------------
    def _cancel_rest(self) -> None:
        """Record everything not finished as skipped, so every file still appears once."""
        in_memory = [unit.path for unit in self.dispatcher.cancel_all()]
        in_memory += [p.path for group in self._waiting_on_sha.values() for p in group]
        for path in itertools.chain(dict.fromkeys(in_memory), self.intake.unread()):
            self.recorder.write(
                skipped_record(
                    path,
                    ErrorCode.cancelled,
                    "the job was cancelled before this file was read",
                    languages=self.params.languages,
                )
            )
            self.recorder.flush_if_due()
