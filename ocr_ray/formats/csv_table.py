"""CSV: one row per file, the columns a spreadsheet user sorts and filters by."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ocr_ray.models import FileRecord
from ocr_ray.plugins import RecordFormat

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


class CsvFormat(RecordFormat):
    """Every record as a row; the text in the last column."""

    name = "csv"
    suffix = ".csv"
    media_type = "text/csv"
    label = "CSV"
    default = True

    def write(self, records: Iterable[FileRecord], path: Path) -> None:
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
