"""Probing input files on the workers, a batch of paths per Ray task.

A probe hashes a file and reads its header (kind, pages, largest page). Done on the
coordinator, it capped one coordinator at a few hundred files a second; done here, it
grows with the cluster, and the coordinator only receives the small ``Probe`` records.
"""

from __future__ import annotations

from dataclasses import dataclass

import ray

from ocr_ray.exceptions import ErrorCode, FileError, OutsideInputRootError
from ocr_ray.inputs.confine import escapes, refusal
from ocr_ray.inputs.documents import Probe, has_supported_suffix, probe_file
from ocr_ray.job.records import failed_record, skipped_record
from ocr_ray.models import FileRecord

Probed = Probe | FileRecord


@dataclass(frozen=True)
class ProbeSpec:
    """What every probe of a job checks; the same for all its files."""

    dpi: int
    max_image_pixels: int
    languages: tuple[str, ...]
    input_root: str | None = None  # API jobs: the input root nothing may be read outside of


def probe_path(path: str, spec: ProbeSpec) -> Probed:
    """A ``Probe`` to schedule, or the file's final record (skipped or failed)."""
    languages = list(spec.languages)
    if escapes(path, spec.input_root):
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
    try:
        return probe_file(
            path, dpi=spec.dpi, max_pixels=spec.max_image_pixels, root=spec.input_root
        )
    except OutsideInputRootError as exc:  # the link was changed since the scan
        return skipped_record(path, exc.code, str(exc), languages=languages)
    except FileError as exc:
        return failed_record(path, exc, languages=languages)


def probe_paths_local(paths: list[str], spec: ProbeSpec) -> list[Probed]:
    """Probe each path in order; one bad file never stops the others."""
    return [probe_path(path, spec) for path in paths]


# A whole CPU, the shape of an OCR task, so a probe runs in one of the node's OCR worker
# processes. At half a CPU a probe beside a running OCR task needs one more process than
# the node has CPUs: Ray started one, killed it idle a second later and started another
# for the next probe, about 1.5 CPU-seconds each (12% of a 2-core node, measured).
probe_files = ray.remote(num_cpus=1, retry_exceptions=False)(probe_paths_local)
