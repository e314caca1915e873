"""The Ray task that OCRs one file or page range on a worker."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

# Tesseract's OpenMP threads fight each other when several workers share a node
# (2.6x slower measured on 2 cores); this must be set before libtesseract loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import ray

from ocr_ray._engines import get_engine
from ocr_ray._pipeline import PageRange, read_pages
from ocr_ray.exceptions import ErrorCode, FileError
from ocr_ray.models import ErrorInfo, PageResult


@dataclass(frozen=True)
class TaskOptions:
    """How a task reads its pages; the same for every task of a job."""

    provider: str
    languages: tuple[str, ...]
    dpi: int
    skip_text: bool
    timeout_s: float


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


def ocr_unit_local(unit: PageRange, options: TaskOptions) -> UnitResult:
    """OCR a page range in this process; bad input becomes an error in the result."""
    started = time.perf_counter()
    result = UnitResult(unit=unit, attempts=_attempt_number() + 1, node=socket.gethostname())
    result.node_id = _node_id()
    try:
        engine = get_engine(options.provider, options.languages)
        result.engine, result.engine_version = engine.name, engine.version
        result.pages = read_pages(
            unit,
            engine=engine,
            dpi=options.dpi,
            skip_text=options.skip_text,
            timeout_s=options.timeout_s,
        )
    except FileError as exc:
        result.error = ErrorInfo(code=exc.code.value, message=str(exc))
    except FileNotFoundError as exc:
        result.error = ErrorInfo(code=ErrorCode.file_not_found.value, message=f"{unit.path}: {exc}")
    except PermissionError as exc:
        result.error = ErrorInfo(
            code=ErrorCode.permission_denied.value, message=f"{unit.path}: {exc}"
        )
    except Exception as exc:  # an engine bug must fail this file, not the job
        result.error = ErrorInfo(
            code=ErrorCode.engine_error.value, message=f"{unit.path}: {type(exc).__name__}: {exc}"
        )
    result.duration_s = time.perf_counter() - started
    return result


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
ocr_unit = ray.remote(retry_exceptions=False)(ocr_unit_local)
