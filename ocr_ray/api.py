"""The library surface that hosts of jobs build on: the HTTP API (``serve/``) and tools.

``submit()`` and ``Job`` (in ``ocr_ray``) serve users. A long-running host needs a
little more, and gets it here rather than from the private modules:

* ``build_params`` validates a job's parameters exactly as ``submit()`` does;
* ``run_stored_job`` runs a job recorded in a store on the calling thread;
* ``progress_of`` and ``summary_of`` read a stored job's figures;
* ``export_job`` and ``parse_formats`` write and check result formats;
* ``providers`` lists the engines with their installed languages;
* ``connect`` joins Ray the way the library does; ``count_input_files`` counts a job's
  input files (the scan's own rules).
"""

from __future__ import annotations

from ocr_ray._engines import get_provider, provider_names
from ocr_ray._export import export_job, parse_formats
from ocr_ray._job import new_job_id, run_stored_job
from ocr_ray._params import build_params
from ocr_ray._progress import progress_of, summary_of
from ocr_ray._ray_init import connect
from ocr_ray._scan import iter_files
from ocr_ray.models import JobParams

__all__ = [
    "build_params",
    "connect",
    "count_input_files",
    "export_job",
    "new_job_id",
    "parse_formats",
    "progress_of",
    "providers",
    "run_stored_job",
    "summary_of",
]


def providers() -> dict[str, list[str]]:
    """Every registered provider with its installed languages, sorted."""
    return {name: sorted(get_provider(name).available_languages()) for name in provider_names()}


def count_input_files(params: JobParams) -> int:
    """How many candidate files a job's inputs hold (one walk of the tree)."""
    files = iter_files(params.paths, recursive=params.recursive, root=params.input_root)
    return sum(1 for _ in files)
