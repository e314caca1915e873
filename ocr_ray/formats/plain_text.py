"""Plain text: every file's text under a heading with its path (and error, if any)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ocr_ray.models import FileRecord
from ocr_ray.plugins import RecordFormat


class TextFormat(RecordFormat):
    """Every file's text in one file."""

    name = "txt"
    aliases = ("text",)
    suffix = ".txt"
    media_type = "text/plain"
    label = "text"
    default = True

    def write(self, records: Iterable[FileRecord], path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            for r in records:
                note = f" [{r.status.value}: {r.error.code}: {r.error.message}]" if r.error else ""
                out.write(f"===== {r.path}{note} =====\n{r.text.rstrip()}\n\n")
