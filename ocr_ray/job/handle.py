"""The public job handle: submit, follow, cancel, export."""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from html import escape
from pathlib import Path
from typing import Any

from ocr_ray.engines import get_provider
from ocr_ray.exceptions import JobNotFoundError, JobRunningError, UsageError
from ocr_ray.inputs.scan import check_inputs
from ocr_ray.job.build import build_params
from ocr_ray.job.coordinator import Coordinator
from ocr_ray.job.export import export_job
from ocr_ray.job.progress import progress_of, summary_of
from ocr_ray.job.ray_init import connect
from ocr_ray.job.store_outage import patient
from ocr_ray.models import FileRecord, FileStatus, JobStatus, JobSummary, Progress
from ocr_ray.params import JobParams, names_of, user_options
from ocr_ray.settings import get_settings
from ocr_ray.store import JobRow, JobStore, open_store

_POLL_S = 0.5


class Job:
    """A bulk OCR job. Cheap to create; all state lives in the store."""

    def __init__(self, job_id: str, store: JobStore, runner: _Runner | None = None) -> None:
        self.id = job_id
        self._store = store
        self._runner = runner

    def __repr__(self) -> str:
        return f"Job({self.id!r}, status={self._row().status.value!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view of the job: where it stands now (``wait()`` follows it live)."""
        p = self.progress()
        cells = {
            "status": p.status.value,
            "pages": f"{p.pages_done} of {p.pages_total}"
            + ("" if p.pages_total_known else " known so far"),
            "files": f"{p.current - p.cancelled_files} of {p.total}: {p.succeeded} succeeded, "
            f"{p.failed} failed, {p.skipped - p.cancelled_files} skipped",
            "rate": f"{p.pages_rate:.2f} pages/s",
            "ETA": "-" if p.eta_s is None else f"{p.eta_s:.0f} s",
            "inputs": ", ".join(self.params.paths),
        }
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>"
            f"{escape(v)}</td></tr>"
            for k, v in cells.items()
        )
        return f"<b>ocr_ray job {escape(self.id)}</b><table>{rows}</table>"

    def _row(self) -> JobRow:
        return _get_row(self._store, self.id)

    @property
    def params(self) -> JobParams:
        """What the job was asked to do."""
        return self._row().params

    def progress(self) -> Progress:
        """Current counts, rate and ETA."""
        return progress_of(self._row())

    def summary(self) -> JobSummary:
        """Totals as written to ``summary.json``."""
        return summary_of(self._store, self._row())

    def results(self, status: FileStatus | str | None = None) -> Iterator[FileRecord]:
        """Final per-file records in scan order, optionally of one status."""
        wanted = FileStatus(status) if status else None
        return self._store.iter_records(job_id=self.id, status=wanted)

    def cancel(self) -> bool:
        """Ask the job to stop; unread files are recorded as skipped. False if already over."""
        return self._store.request_cancel(job_id=self.id)

    def stop(self) -> None:
        """Stop this process's coordinator, leaving the job resumable (Ctrl-C in the CLI)."""
        if self._runner:
            self._runner.coordinator.stop()
            self._runner.thread.join()

    def wait(self, timeout: float | None = None, progress: bool = True) -> JobSummary:
        """Block until the job finishes; shows a tqdm bar (terminal or notebook) if asked."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _ProgressBar(self.id) if progress else None
        # The coordinator waits out a store outage, and so does its follower.
        store = patient(self._store, get_settings().store_outage_s, narrate=False)
        try:
            while True:
                current = progress_of(_get_row(store, self.id))
                if bar:
                    bar.update(current)
                if self._finished(current):
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"job {self.id} still {current.status.value} after {timeout} s"
                    )
                self._pause()
        finally:
            if bar:
                bar.close()
        if self._runner and self._runner.error:
            raise self._runner.error
        return self.summary()

    def _pause(self) -> None:
        """Sleep one poll interval, waking at once if this process's coordinator ends."""
        if self._runner is not None:
            self._runner.thread.join(_POLL_S)
        else:
            time.sleep(_POLL_S)

    def _finished(self, current: Progress) -> bool:
        if self._runner is not None:
            return not self._runner.thread.is_alive()
        return current.status.finished or current.status is JobStatus.interrupted

    def export(self, out_dir: str | Path, formats: Iterable[str] | None = None) -> dict[str, Path]:
        """Write result files (and ``summary.json``) into ``out_dir``: ``formats``, by
        default the job's own."""
        return export_job(
            self._store,
            job_id=self.id,
            summary=self.summary(),
            out_dir=Path(out_dir),
            formats=self.params.export_formats if formats is None else formats,
        )


def _get_row(store: JobStore, job_id: str) -> JobRow:
    row = store.get_job(job_id)
    if row is None:
        raise JobNotFoundError(f"no job {job_id!r} in the store")
    return row


class _Runner:
    """A coordinator running on a thread of this process."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"ocr-ray-{coordinator.job_id}"
        )

    def _run(self) -> None:
        try:
            self.coordinator.run()
        except BaseException as exc:  # surfaced by Job.wait()
            self.error = exc


def submit(
    paths: str | Path | Sequence[str | Path],
    *,
    address: str | None = None,
    out_dir: str | Path | None = None,
    job_id: str | None = None,
    store: str | None = None,
    **options: Any,
) -> Job:
    """Start OCR of files and folders and return at once.

    Example:
        >>> job = ocr_ray.submit("scans/", languages=["en", "de"])
        >>> job.wait()
        >>> job.export("out/")

    ``options`` are the job's parameters, listed below and in ``ocr_ray.params``; an
    unknown one is a ``UsageError`` that names it. Document formats (``formats=["pdf"]``
    and the like) are written under ``out_dir/<format>/`` by the workers as they read.

    ``address=None`` starts or joins a local Ray; ``"auto"`` or ``"ray://host:10001"``
    uses a cluster. Reusing an existing ``job_id`` resumes that job with its own settings.
    """
    opened = open_store(store)
    if job_id and opened.get_job(job_id):
        return resume(job_id, address=address, store=store)
    params = build_params(
        [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)],
        options,
        output_dir=str(out_dir) if out_dir is not None else None,
    )
    job_id = job_id or new_job_id()
    opened.create_job(job_id=job_id, params=params)
    return _start(job_id, opened, params, address)


class _Computed:
    def __repr__(self) -> str:
        return "computed"


_COMPUTED = _Computed()


def _document_options(function: Callable[..., Job]) -> None:
    """List the job parameters in ``function``'s signature and docstring (``help()``
    and Jupyter show them), from their one declaration."""
    signature = inspect.signature(function)
    keywords = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    lines = ["", "    Job options:"]
    for name, (info, _) in user_options(api=False).items():
        # Computed defaults (settings, the format registry) are read when a job is made.
        default = _COMPUTED if info.default_factory is not None else info.default
        keywords.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
        aliases = names_of(name, info)[1:]
        also = f" (or {', '.join(aliases)})" if aliases else ""
        lines.append(f"        {name}{also}: {info.description} [default: {default!r}]")
    function.__signature__ = signature.replace(parameters=keywords)  # type: ignore[attr-defined]
    function.__doc__ = (function.__doc__ or "") + "\n".join(lines) + "\n"


_document_options(submit)


def resume(job_id: str, *, address: str | None = None, store: str | None = None) -> Job:
    """Continue a job that was interrupted, skipping every file already finished."""
    opened = open_store(store)
    row = opened.get_job(job_id)
    if row is None:
        raise JobNotFoundError(f"no job {job_id!r} to resume")
    if row.status is JobStatus.completed:
        return Job(job_id, opened)
    if row.status.active:
        raise JobRunningError(
            f"job {job_id} is still running (its coordinator renewed its lease); "
            "cancel it first, or resume once it shows as interrupted"
        )
    check_inputs(row.params.paths)
    get_provider(row.params.provider).validate_languages(row.params.languages)
    return _start(job_id, opened, row.params, address)


def get_job(job_id: str, *, store: str | None = None) -> Job:
    """Re-attach to a job by id (to follow, export or cancel it)."""
    opened = open_store(store)
    if opened.get_job(job_id) is None:
        raise JobNotFoundError(f"no job {job_id!r} in the store")
    return Job(job_id, opened)


def list_jobs(*, limit: int = 50, offset: int = 0, store: str | None = None) -> list[Progress]:
    """Progress of recent jobs, newest first."""
    return [progress_of(row) for row in open_store(store).list_jobs(limit=limit, offset=offset)]


def run_stored_job(job_id: str, *, store: JobStore) -> None:
    """Run a stored job's coordinator on the calling thread until the job ends or stops.

    For a long-lived host (the API's job runner) that already joined Ray; a finished
    job returns at once.
    """
    row = store.get_job(job_id)
    if row is None or row.status.finished:
        return
    Coordinator(store=store, job_id=job_id, params=row.params, settings=get_settings()).run()


def new_job_id() -> str:
    """A sortable, unique job id."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _start(job_id: str, store: JobStore, params: JobParams, address: str | None) -> Job:
    if not params.paths:
        raise UsageError("a job needs at least one input path")
    # On the caller's thread: Ray installs signal handlers only there.
    connect(address, job=_ray_job(job_id, params))
    coordinator = Coordinator(store=store, job_id=job_id, params=params, settings=get_settings())
    runner = _Runner(coordinator)
    runner.thread.start()
    return Job(job_id, store, runner)


def _ray_job(job_id: str, params: JobParams) -> dict[str, str]:
    """The Ray job's metadata, where this job starts the driver: named by the job id."""
    options = params.option_values()
    return {
        "job_name": f"ocr-ray {job_id}",
        "ocr_ray_job_id": job_id,
        "ocr_ray_inputs": json.dumps(params.paths),
        "ocr_ray_options": json.dumps(options, default=str),
    }


class _ProgressBar:
    """A tqdm.auto bar of pages fed from Progress snapshots (terminals and notebooks).

    Its total is the pages known so far, so it grows as probes count them; a long
    PDF's bar moves as each page range is read.
    """

    def __init__(self, job_id: str) -> None:
        from tqdm.auto import tqdm

        self._job_id = job_id
        self._bar = tqdm(total=0, desc=job_id, unit="page", dynamic_ncols=True)

    def update(self, current: Progress) -> None:
        # A cancelled job's unread pages leave the store's figures; the bar keeps the
        # total it had, so it shows how far the job got.
        total = current.pages_total
        if current.status is JobStatus.cancelled:
            total = max(total, int(self._bar.total or 0))
        self._bar.total = max(total, current.pages_done)
        self._bar.n = current.pages_done
        if current.status.finished:
            self._bar.set_description(f"{self._job_id} {current.status.value}", refresh=False)
        self._bar.set_postfix_str(_files_line(current), refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _files_line(current: Progress) -> str:
    """Files done of files found, and how they ended, for the bar."""
    found = f"{current.total}" if current.total_known else f"{current.total}+"
    line = f"files {current.current - current.cancelled_files}/{found} ok={current.succeeded}"
    if current.failed:
        line += f" failed={current.failed}"
    if current.cancelled_files:
        line += f" not read={current.cancelled_files}"
    return line
