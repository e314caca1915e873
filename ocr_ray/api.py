"""The library surface that hosts of jobs build on: the HTTP API (``serve/``) and tools.

``submit()`` and ``Job`` (in ``ocr_ray``) serve users. A long-running host needs a
little more, and gets it here rather than from the private modules:

* ``build_params`` validates a job's parameters exactly as ``submit()`` does;
* ``run_stored_job`` runs a job recorded in a store on the calling thread;
* ``progress_of`` and ``summary_of`` read a stored job's figures;
* ``export_job`` writes result formats; ``formats``, ``get_format``, ``kind_of`` and
  ``parse_formats`` list and check them (the registry's);
* ``providers`` lists the engines with their installed languages, and
  ``handwriting_providers`` those that read handwriting;
* ``connect`` joins Ray the way the library does;
* ``within`` says whether a resolved path lies inside a root, as jobs confine their reads.
"""

from __future__ import annotations

from ocr_ray.engines import get_provider, handwriting_providers, provider_names
from ocr_ray.formats import all_formats as formats
from ocr_ray.formats import get_format, kind_of, parse_formats
from ocr_ray.inputs.confine import within
from ocr_ray.job.build import build_params
from ocr_ray.job.export import export_job
from ocr_ray.job.handle import new_job_id, run_stored_job
from ocr_ray.job.progress import progress_of, summary_of
from ocr_ray.job.ray_init import connect

__all__ = [
    "build_params",
    "connect",
    "export_job",
    "formats",
    "get_format",
    "handwriting_providers",
    "kind_of",
    "new_job_id",
    "parse_formats",
    "progress_of",
    "providers",
    "run_stored_job",
    "summary_of",
    "within",
]


def providers() -> dict[str, list[str]]:
    """Every registered provider with its installed languages, sorted."""
    return {name: sorted(get_provider(name).available_languages()) for name in provider_names()}
