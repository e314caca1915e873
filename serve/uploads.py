"""Storing uploaded files safely under a server-owned folder."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ocr_ray.exceptions import UsageError
from serve.settings import ServeSettings

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")
_CHUNK = 1024 * 1024
MAX_UPLOAD_FILES = 100_000


class UploadTooLarge(UsageError):
    """The upload is over OCR_RAY_UPLOAD_MAX_BYTES or the file-count limit."""


class BadArchive(UsageError):
    """A zip that cannot be read or has unsafe member names."""


def upload_dir(settings: ServeSettings, job_id: str) -> Path:
    """Where an upload job's files are stored (a folder the server owns)."""
    return settings.home / "uploads" / job_id


def save_uploads(files: Iterable[tuple[str, BinaryIO]], target: Path, max_bytes: int) -> int:
    """Write uploaded files (a zip is unpacked) under ``target``; returns files written."""
    target.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_bytes)
    count = 0
    for name, stream in files:
        if name.lower().endswith(".zip"):
            count += _unpack_zip(stream, target, budget)
        else:
            _copy(stream, _unused(target / safe_name(name)), budget)
            count += 1
    return count


def safe_name(name: str) -> str:
    """A plain file name made from an untrusted one: no folders, no odd characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).strip(" .")
    return cleaned[:200] or "file"


def _unpack_zip(stream: BinaryIO, target: Path, budget: _Budget) -> int:
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as exc:
        raise BadArchive(f"not a readable zip: {exc}") from exc
    count = 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_UPLOAD_FILES:
            raise UploadTooLarge(f"the zip holds over {MAX_UPLOAD_FILES} files")
        for member in members:
            parts = PurePosixPath(member.filename.replace("\\", "/")).parts
            if member.filename.startswith("/") or any(p in ("..", "") for p in parts):
                raise BadArchive(f"unsafe member name in zip: {member.filename!r}")
            if not _plain_file(member):
                raise BadArchive(
                    f"zip member {member.filename!r} is a link or device file, not a plain file"
                )
            relative = Path(*[safe_name(p) for p in parts])
            destination = _unused(target / relative)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source:
                _copy(source, destination, budget)  # counts real bytes: zip bombs stop here
            count += 1
    return count


def _unused(destination: Path) -> Path:
    """``destination``, or ``name-2.ext``, ``name-3.ext`` ... if it is taken: two members
    whose names are the same once made safe (or the same in the zip) are both kept."""
    candidate, number = destination, 1
    while candidate.exists():
        number += 1
        candidate = destination.with_name(f"{destination.stem}-{number}{destination.suffix}")
    return candidate


def _plain_file(member: zipfile.ZipInfo) -> bool:
    """Whether the member is a regular file. Zips made on Unix keep the file's mode
    in the high 16 bits, its type (link, device) included; a member with no type bits
    (other systems, many zip writers) is the plain file it is unpacked as."""
    kind = stat.S_IFMT(member.external_attr >> 16)
    return kind in (0, stat.S_IFREG)


def _copy(source: BinaryIO, destination: Path, budget: _Budget) -> None:
    with destination.open("wb") as out:
        while chunk := source.read(_CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise UploadTooLarge("the upload is larger than OCR_RAY_UPLOAD_MAX_BYTES allows")


def discard(target: Path) -> None:
    """Remove a failed upload's folder."""
    shutil.rmtree(target, ignore_errors=True)
