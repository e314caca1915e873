"""JSON Lines: one record per line, the format the others are checked against."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ocr_ray.models import FileRecord
from ocr_ray.plugins import RecordFormat


class JsonlFormat(RecordFormat):
    """Every record, one JSON object per line."""

    name = "jsonl"
    suffix = ".jsonl"
    media_type = "application/x-ndjson"
    label = "JSON Lines"
    default = True

    def write(self, records: Iterable[FileRecord], path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(record.model_dump_json() + "\n")
