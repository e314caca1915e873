"""JSON: the records as one array, written a record at a time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ocr_ray.models import FileRecord
from ocr_ray.plugins import RecordFormat


class JsonFormat(RecordFormat):
    """Every record in one JSON array."""

    name = "json"
    suffix = ".json"
    media_type = "application/json"
    label = "JSON"
    default = True

    def write(self, records: Iterable[FileRecord], path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            out.write("[")
            for index, record in enumerate(records):
                out.write(",\n" if index else "\n")
                out.write(record.model_dump_json())
            out.write("\n]\n")
