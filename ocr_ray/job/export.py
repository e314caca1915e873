"""Writing a job's outputs: each record format asked for, a summary, and the bundles.

Document formats (pdf, hocr, alto ...) are written during the run, next to the OCR;
here their folders are only copied (to another folder) and bundled.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from ocr_ray.formats import default_formats, of_kind, parse_formats
from ocr_ray.job.outputs import no_room_is_fatal, written_atomically
from ocr_ray.models import JobSummary
from ocr_ray.plugins import BundleFormat, DocumentFormat, RecordFormat
from ocr_ray.store import JobStore


def export_job(
    store: JobStore,
    *,
    job_id: str,
    summary: JobSummary,
    out_dir: Path,
    formats: Iterable[str],
) -> dict[str, Path]:
    """Write the requested formats plus ``summary.json`` into ``out_dir``; return their paths.

    Document formats are folders (``out_dir/pdf`` ...), copied from the job's
    ``output_dir``, where its run wrote them, when that is another folder. A bundle
    (the ZIP) packs the other formats asked for; asked for alone, the default records.
    """
    wanted = parse_formats(list(formats))
    records = of_kind(wanted, RecordFormat)
    bundles = of_kind(wanted, BundleFormat)
    if bundles and not records:
        records = of_kind(default_formats(), RecordFormat)
    with no_room_is_fatal(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    written = {"summary": out_dir / "summary.json"}
    summary = summary.model_copy(update={"output_dir": str(out_dir.absolute())})
    with written_atomically(written["summary"]) as temporary:
        temporary.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for record_format in records:
        path = out_dir / f"results{record_format.suffix}"
        with written_atomically(path) as temporary:
            record_format.write(store.iter_records(job_id=job_id), temporary)
        written[record_format.name] = path
    documents = of_kind(wanted, DocumentFormat)
    if documents:
        row = store.get_job(job_id)
        source = Path(row.params.output_dir) if row and row.params.output_dir else out_dir
        for document in documents:
            written[document.name] = _document_folder(document.folder_name(), source, out_dir)
    members = list(written.values())
    for bundle in bundles:
        written[bundle.name] = out_dir / f"results{bundle.suffix}"
        with written_atomically(written[bundle.name]) as temporary:
            bundle.bundle(members, out_dir, temporary)
    return written


def _document_folder(name: str, source: Path, out_dir: Path) -> Path:
    """``out_dir/name``, copied from where the run wrote it if that is elsewhere."""
    target = out_dir / name
    with no_room_is_fatal(target):
        if (source / name).is_dir() and (source / name).resolve() != target.resolve():
            shutil.copytree(source / name, target, dirs_exist_ok=True)
        target.mkdir(parents=True, exist_ok=True)
    return target
