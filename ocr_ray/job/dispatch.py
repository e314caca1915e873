"""OCR tasks: page ranges packed into Ray tasks, with backpressure and a watchdog.

Small files are packed several to a task, up to a pixel budget, so that the fixed cost
of a Ray task is paid once for many one-line images; a page range of a long document
is at least one task of its own. Each range still has its own result, timeout and
record. A packed task that dies or hangs is not failed as a whole: its ranges are sent
again one to a task, so that one bad file can only fail itself.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import ray

from ocr_ray.exceptions import ErrorCode
from ocr_ray.inputs.pipeline import PageRange
from ocr_ray.job.inflight import InFlight
from ocr_ray.job.tasks import TaskOptions, UnitResult, ocr_units
from ocr_ray.models import ErrorInfo
from ocr_ray.plugins import Provider
from ocr_ray.settings import Settings

_CAPACITY_REFRESH_S = 10.0
_LOST_ERRORS = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OutOfMemoryError,
    ray.exceptions.LocalRayletDiedError,
)


@dataclass(frozen=True)
class Unit:
    """A page range ready to read, with what its pages weigh."""

    range: PageRange
    pixels: int  # all its pages together: what the packing budget counts
    page_pixels: int  # its largest page: what the task's memory is sized by
    alone: bool = False  # sent again on its own after its packed task failed


class Dispatcher:
    """Submits units as packed Ray tasks within a window of tasks in flight."""

    def __init__(
        self,
        options: TaskOptions,
        provider: Provider,
        settings: Settings,
        *,
        name: str,
        ask_for_more: bool = True,
    ) -> None:
        self.options, self.provider, self.settings = options, provider, settings
        self.name = name  # of every task: one per job, never one per file (see _send)
        # Tasks beyond the CPUs there are wait as demand, which the Ray autoscaler meets
        # with new nodes; a job that asks for none keeps one task per CPU.
        self._per_cpu = 2 if ask_for_more else 1
        self._ready: deque[Unit] = deque()
        self._inflight: InFlight[Unit] = InFlight()
        self._window, self._window_checked = 2, 0.0
        self.most_cpus = 0.0  # the cluster's largest CPU count seen (for capacity plans)

    @property
    def refs(self) -> list[ray.ObjectRef]:
        """The OCR tasks in flight."""
        return self._inflight.refs

    @property
    def waiting(self) -> int:
        """Ranges ready to be sent."""
        return len(self._ready)

    @property
    def idle(self) -> bool:
        """Nothing waits to be sent or to come back."""
        return not self._ready and not self._inflight

    def enqueue(self, unit: Unit) -> None:
        """A range to read, sent once a slot is free."""
        self._ready.append(unit)

    @property
    def free_slots(self) -> int:
        """Tasks that may still be sent before the window is full."""
        return max(0, self.window() - len(self._inflight))

    def submit(self) -> None:
        """Send packed tasks until the window is full or nothing is ready."""
        while self._ready and len(self._inflight) < self.window():
            self._send(self._pack())

    def collect(self, ready: list[ray.ObjectRef]) -> list[UnitResult]:
        """The results of the tasks among ``ready``; failed packed tasks are split."""
        results: list[UnitResult] = []
        for units, outcome in self._inflight.collect(ready, split=self._again_alone):
            if isinstance(outcome, ray.exceptions.RayError):
                results.append(self._failure(units[0].range, outcome))
            else:
                results += outcome
        return results

    def enforce_deadlines(self) -> None:
        """Backstop for an engine that ignores the in-task timeout: kill its worker."""
        now = time.monotonic()
        per_unit = self.options.timeout_per_file_s
        for ref, flight in self._inflight.flights():
            limit = per_unit * (len(flight.items) + 1) + 60
            if not flight.timed_out and now - flight.submitted_at > limit:
                flight.timed_out = True
                ray.cancel(ref, force=True)

    def cancel_all(self) -> list[PageRange]:
        """Cancel every task in flight and drop what waits; every range either held,
        for the caller to report (a cancelled job's records)."""
        units = self._inflight.cancel_all() + list(self._ready)
        self._ready.clear()
        return [u.range for u in units]

    def window(self) -> int:
        """Tasks in flight at most: the setting, or twice the cluster's CPUs (once, for a
        job that asks for no more workers)."""
        if time.monotonic() - self._window_checked > _CAPACITY_REFRESH_S:
            cpus = ray.cluster_resources().get("CPU", 1)
            self.most_cpus = max(self.most_cpus, cpus)
            self._window = max(self._per_cpu, self._per_cpu * int(cpus))
            self._window_checked = time.monotonic()
        return self.settings.max_in_flight or self._window

    # Packing -----------------------------------------------------------------------
    def _pack(self) -> list[Unit]:
        """The next task's units: up to the pixel budget and the file cap, and no more
        than a fair share of what is ready, so a small job still spreads over the slots."""
        first = self._ready.popleft()
        units = [first]
        if first.alone:
            return units
        share = math.ceil((len(self._ready) + 1) / max(1, self.free_slots))
        cap = min(self.settings.max_files_per_task, share)
        budget = self.settings.task_pixels - first.pixels
        while self._ready and len(units) < cap and not self._ready[0].alone:
            if self._ready[0].pixels > budget:
                break
            budget -= self._ready[0].pixels
            units.append(self._ready.popleft())
        return units

    def _send(self, units: list[Unit]) -> None:
        # Ray keeps state for every distinct task name for the life of the process (4.5 KB
        # each, measured): at a name per file, 2 GB of driver over 500,000 files.
        ref = ocr_units.options(
            name=self.name,
            max_retries=self.settings.max_retries,
            **self.provider.resources(max(u.page_pixels for u in units)),
        ).remote([u.range for u in units], self.options)
        self._inflight.add(ref, units)

    # Results -----------------------------------------------------------------------
    def _again_alone(self, units: list[Unit]) -> None:
        """A packed task that did not return: each of its ranges goes again alone, first."""
        self._ready.extendleft(
            Unit(u.range, u.pixels, u.page_pixels, alone=True) for u in reversed(units)
        )

    def _failure(self, unit: PageRange, exc: ray.exceptions.RayError) -> UnitResult:
        """The error result of a task that did not return (cancelled, lost, broken)."""
        attempts = 1
        if isinstance(exc, ray.exceptions.TaskCancelledError):
            code = ErrorCode.timeout
            message = (
                f"{unit.path}: the engine did not stop at its "
                f"{self.options.timeout_per_file_s:g} s "
                "timeout; its worker was restarted"
            )
        elif isinstance(exc, _LOST_ERRORS):
            code, attempts = ErrorCode.worker_lost, self.settings.max_retries + 1
            message = (
                f"{unit.path}: the worker or node running it died "
                f"{self.settings.max_retries + 1} times: {type(exc).__name__}"
            )
        else:
            code, message = ErrorCode.engine_error, f"{unit.path}: {exc}"
        return UnitResult(
            unit=unit, error=ErrorInfo(code=code.value, message=message), attempts=attempts
        )
