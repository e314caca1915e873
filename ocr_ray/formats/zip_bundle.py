"""ZIP: the job's other outputs and its summary in one download."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ocr_ray.models import printable
from ocr_ray.plugins import BundleFormat


class ZipFormat(BundleFormat):
    """Everything the job wrote, with the document folders, in one ZIP."""

    name = "zip"
    suffix = ".zip"
    media_type = "application/zip"
    label = "ZIP of the results"
    default = True

    def bundle(self, members: Sequence[Path], root: Path, path: Path) -> None:
        # Names are ours (results.*, summary.json) or relative paths we made under the
        # document folders, which mirror input paths inside the input roots: never absolute.
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in members:
                for file in _files_under(member) if member.is_dir() else [member]:
                    # A name that is not UTF-8 goes in as it is shown (\xNN).
                    archive.write(file, arcname=printable(file.relative_to(root).as_posix()))


def _files_under(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in a stable order, one folder's listing in memory at a time
    (a job's document folders can hold a million documents)."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _files_under(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)
