"""Writing a job's records as JSON Lines, JSON, CSV, text, a summary and a ZIP of them all.

The archive formats (pdf, hocr, alto) are written during the run, next to the OCR; here
they are only copied (to another folder) and bundled into the ZIP.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ocr_ray.exceptions import UsageError
from ocr_ray.models import ARCHIVE_FORMATS, EXPORT_FORMATS, FileRecord, JobSummary
from ocr_ray.store import Store

CSV_COLUMNS = (
    "path",
    "status",
    "error_code",
    "error_message",
    "pages",
    "characters",
    "confidence",
    "languages",
    "engine",
    "engine_version",
    "duration_s",
    "attempts",
    "node",
    "sha256",
    "size_bytes",
    "duplicate_of",
    "text",
)


_ALL_FORMATS = EXPORT_FORMATS + ARCHIVE_FORMATS


def parse_formats(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Validate a comma list (or iterable) of formats; None means the record formats."""
    if value is None:
        return EXPORT_FORMATS
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    unknown = sorted(set(items) - set(_ALL_FORMATS) - {""})
    if unknown:
        raise UsageError(
            f"unknown format(s): {', '.join(unknown)}; choose from {', '.join(_ALL_FORMATS)}"
        )
    return tuple(f for f in _ALL_FORMATS if f in items)


def export_job(
    store: Store,
    *,
    job_id: str,
    summary: JobSummary,
    out_dir: Path,
    formats: Iterable[str],
) -> dict[str, Path]:
    """Write the requested formats plus ``summary.json`` into ``out_dir``; return their paths.

    Archive formats are folders (``out_dir/pdf`` ...), copied from the job's
    ``output_dir``, where its run wrote them, when that is another folder.
    """
    wanted = set(parse_formats(list(formats)))
    # The ZIP bundles the other formats asked for; asked for alone, it bundles them all.
    others = [f for f in EXPORT_FORMATS if f != "zip"]
    files = [f for f in others if f in wanted] or (others if "zip" in wanted else [])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"summary": out_dir / "summary.json"}
    written["summary"].write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for fmt in files:
        path = out_dir / f"results.{fmt}"
        _WRITERS[fmt](store.iter_records(job_id=job_id), path)
        written[fmt] = path
    archive = [f for f in ARCHIVE_FORMATS if f in wanted]
    if archive:
        row = store.get_job(job_id)
        source = Path(row.params.output_dir) if row and row.params.output_dir else out_dir
        for fmt in archive:
            written[fmt] = _archive_folder(fmt, source, out_dir)
    if "zip" in wanted:
        written["zip"] = _write_zip(out_dir / "results.zip", out_dir, list(written.values()))
    return written


def _archive_folder(fmt: str, source: Path, out_dir: Path) -> Path:
    """``out_dir/fmt``, copied from where the run wrote it if that is elsewhere."""
    target = out_dir / fmt
    if (source / fmt).is_dir() and (source / fmt).resolve() != target.resolve():
        shutil.copytree(source / fmt, target, dirs_exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _write_jsonl(records: Iterable[FileRecord], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(record.model_dump_json() + "\n")


def _write_json(records: Iterable[FileRecord], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for index, record in enumerate(records):
            out.write(",\n" if index else "\n")
            out.write(record.model_dump_json())
        out.write("\n]\n")


def _write_csv(records: Iterable[FileRecord], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow(
                [
                    r.path,
                    r.status.value,
                    r.error.code if r.error else "",
                    r.error.message if r.error else "",
                    len(r.pages),
                    len(r.text),
                    "" if r.confidence is None else f"{r.confidence:.2f}",
                    "+".join(r.languages),
                    r.engine or "",
                    r.engine_version or "",
                    f"{r.duration_s:.3f}",
                    r.attempts,
                    r.node or "",
                    r.sha256 or "",
                    r.size_bytes or "",
                    r.duplicate_of or "",
                    r.text,
                ]
            )


def _write_txt(records: Iterable[FileRecord], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for r in records:
            note = f" [{r.status.value}: {r.error.code}: {r.error.message}]" if r.error else ""
            out.write(f"===== {r.path}{note} =====\n{r.text.rstrip()}\n\n")


def _write_zip(path: Path, root: Path, members: list[Path]) -> Path:
    # Names are ours (results.*, summary.json) or relative paths we made under the
    # archive folders, which mirror input paths inside the input roots: never absolute.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            for file in _files_under(member) if member.is_dir() else [member]:
                archive.write(file, arcname=file.relative_to(root).as_posix())
    return path


def _files_under(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in a stable order, one folder's listing in memory at a time
    (a job's archive folders can hold a million documents)."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _files_under(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


_WRITERS = {"jsonl": _write_jsonl, "json": _write_json, "csv": _write_csv, "txt": _write_txt}


def dumps_summary(summary: JobSummary) -> str:
    """The summary as pretty JSON."""
    return json.dumps(summary.model_dump(mode="json"), indent=2)
