"""The Ray task that OCRs page ranges (of one file, or several small files) on a worker."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

# Tesseract's OpenMP threads fight each other when several workers share a node
# (2.6x slower measured on 2 cores); this must be set before libtesseract loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import ray

from ocr_ray.engines import get_engine, probe_engine
from ocr_ray.exceptions import ErrorCode, FileError
from ocr_ray.formats import of_kind
from ocr_ray.inputs.confine import pinned
from ocr_ray.inputs.os_errors import os_error
from ocr_ray.inputs.pipeline import PageRange, ReadOptions, ReadPage, read_pages
from ocr_ray.models import ErrorInfo, PageResult
from ocr_ray.plugins import DocumentFormat, DocumentPage, Source


@dataclass(frozen=True)
class TaskOptions:
    """How a task reads its pages; the same for every task of a job."""

    provider: str
    languages: tuple[str, ...]
    read: ReadOptions
    timeout_per_file_s: float
    formats: tuple[str, ...] = ()  # document formats: made on the worker, returned as bytes
    input_root: str | None = None  # API jobs: the file must still resolve inside it


@dataclass
class UnitResult:
    """What a task sends back: pages, or the error that stopped it."""

    unit: PageRange
    pages: list[PageResult] = field(default_factory=list)
    error: ErrorInfo | None = None
    engine: str | None = None
    engine_version: str | None = None
    duration_s: float = 0.0
    attempts: int = 1
    node: str | None = None
    node_id: str | None = None
    # Document format -> this range's part of the input's document.
    parts: dict[str, bytes] = field(default_factory=dict)


def ocr_unit_local(unit: PageRange, options: TaskOptions) -> UnitResult:
    """OCR a page range in this process; bad input becomes an error in the result."""
    started = time.perf_counter()
    result = UnitResult(unit=unit, attempts=_attempt_number() + 1, node=socket.gethostname())
    result.node_id = _node_id()
    try:
        _read_into(result, unit, options)
    except FileError as exc:
        result.error = ErrorInfo(code=exc.code.value, message=str(exc))
    except OSError as exc:
        error = os_error(unit.path, exc) if exc.errno is not None else _engine_error(unit, exc)
        result.error = ErrorInfo(code=error.code.value, message=str(error))
    except Exception as exc:  # an engine bug must fail this file, not the job
        error = _engine_error(unit, exc)
        result.error = ErrorInfo(code=error.code.value, message=str(error))
    result.duration_s = time.perf_counter() - started
    return result


def _engine_error(unit: PageRange, exc: Exception) -> FileError:
    return FileError(f"{unit.path}: {type(exc).__name__}: {exc}", code=ErrorCode.engine_error)


def ocr_units_local(units: list[PageRange], options: TaskOptions) -> list[UnitResult]:
    """OCR several page ranges in turn (a packed task), each with its own result."""
    return [ocr_unit_local(unit, options) for unit in units]


def _read_into(result: UnitResult, unit: PageRange, options: TaskOptions) -> None:
    _yield_to_interactive_work()
    engine = get_engine(options.provider, options.languages)
    result.engine, result.engine_version = engine.name, engine.version
    with pinned(unit.path, options.input_root) as source:
        reads = read_pages(
            unit,
            engine=engine,
            options=options.read,
            timeout_s=options.timeout_per_file_s,
            source=source,
        )
        result.pages = [read.result for read in reads]
        if options.formats:
            system = f"{engine.name} {engine.version}"
            opened = Source(source or unit.path, unit.kind)
            result.parts = document_parts(reads, options, system=system, source=opened)


def document_parts(
    reads: list[ReadPage], options: TaskOptions, *, system: str, source: Source
) -> dict[str, bytes]:
    """This range's part of each document format asked for."""
    pages = [
        DocumentPage(
            index=read.result.number - 1,
            text=read.result.text,
            hocr=read.hocr or "",
            rotation=read.result.rotation,
            dpi=read.result.dpi or options.read.dpi,
            leveled=read.leveled,
            own_dpi=read.own_dpi,
            replaces_layer=read.replaces_layer,
        )
        for read in reads
    ]
    return {
        fmt.name: fmt.part(pages, source, system=system)
        for fmt in of_kind(options.formats, DocumentFormat)
    }


def probe_local(provider: str, languages: tuple[str, ...]) -> str | None:
    """None if the engine runs on this worker, else why not (see ``probe_engine``)."""
    try:
        probe_engine(provider, languages)
    except Exception as exc:
        return str(exc)
    return None


_LEAST_PRIORITY = 19  # nice value; Ray starts its workers at 15, the API replica included


@functools.cache
def _yield_to_interactive_work() -> None:
    """Lower this OCR worker process to the least priority, once: on a node that also
    runs the API or a coordinator, pages are read with the CPU those leave free, and an
    API poll is answered at once (measured in benchmarks/bench_api_load.py). On a
    node that only reads pages nothing competes, and nothing is lost."""
    if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, _LEAST_PRIORITY)


def _attempt_number() -> int:
    """0 on the first try; Ray counts up when it retries after a worker or node died."""
    try:
        core_worker: Any = ray._private.worker.global_worker.core_worker  # type: ignore[attr-defined]
        return int(core_worker.get_current_task_attempt_number())
    except Exception:  # outside a Ray task, or an older Ray without the call
        return 0


def _node_id() -> str | None:
    try:
        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # not connected to Ray
        return None


# Bad input is returned as a result, so retry_exceptions stays off: Ray only retries
# when the process or node running the task dies.
ocr_units = ray.remote(retry_exceptions=False)(ocr_units_local)
probe_engine_task = ray.remote(probe_local)
