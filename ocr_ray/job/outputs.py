"""Placing the workers' document formats under ``<out>/<format>/``, mirroring input paths.

Workers send each page range's share back as bytes (a scan's PDF is about the size of
the scan, its hOCR and ALTO a few tens of KB a page), so no node needs a shared
output volume. A share is written to a staging folder as soon as it arrives, and a
file's documents are assembled once its last range is in: the coordinator holds no
pages in memory and never reads an input again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from ocr_ray.exceptions import OutputUnwritableError
from ocr_ray.models import printable
from ocr_ray.plugins import Checked, DocumentFormat

# An output that fails with one of these is the disk's fault, not the file's: the job
# stops, keeping its records, rather than failing file after file.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

_STAGING = ".ocr-ray-parts"


class DocumentWriter:
    """Writes each input's documents (searchable PDF, hOCR ...) as its page ranges arrive."""

    def __init__(
        self, out_dir: Path, formats: Sequence[DocumentFormat], inputs: Sequence[str]
    ) -> None:
        self.out_dir, self.formats = out_dir, tuple(formats)
        self._inputs = [os.path.abspath(p).rstrip("/") or "/" for p in inputs]
        self._prefixes = _prefixes(self._inputs)
        self._staging = out_dir / _STAGING

    @property
    def names(self) -> list[str]:
        """The formats' names."""
        return [fmt.name for fmt in self.formats]

    def relative(self, path: str, fmt: DocumentFormat) -> str:
        """``<format>/<input path relative to the folder given><suffix>``, '/'-separated."""
        name = _mirrored(os.path.abspath(path), self._inputs, self._prefixes)
        suffix = fmt.suffix
        return f"{fmt.folder_name()}/{name if name.endswith(suffix) else name + suffix}"

    def stage(self, path: str, first: int, part: dict[str, bytes]) -> None:
        """Keep one page range's share on disk until the whole file is in."""
        folder = self._part_folder(path)
        with no_room_is_fatal(folder):
            folder.mkdir(parents=True, exist_ok=True)
            for fmt, data in part.items():
                (folder / f"{first:08d}.{fmt}").write_bytes(data)

    def finish(
        self, path: str, firsts: Sequence[int], system: str
    ) -> tuple[dict[str, str], dict[str, Checked]]:
        """Assemble the file's documents from its staged ranges: their relative paths,
        and what the formats that validate found."""
        folder = self._part_folder(path)
        written, checks = {}, {}
        # The input as the job knows it (its path under the folder given), printable.
        name = printable(_mirrored(os.path.abspath(path), self._inputs, self._prefixes))
        for fmt in self.formats:
            parts = [(folder / f"{n:08d}.{fmt.name}").read_bytes() for n in sorted(firsts)]
            made = fmt.assemble(parts, name=name, system=system)
            if isinstance(made, Checked):
                checks[fmt.name], made = made, made.data
            relative = self.relative(path, fmt)
            with written_atomically(self.out_dir / relative) as temporary:
                temporary.write_bytes(made)
            written[fmt.name] = relative
        self.discard(path)
        return written, checks

    def discard(self, path: str) -> None:
        """Drop a file's staged ranges (it failed, or its documents are written)."""
        shutil.rmtree(self._part_folder(path), ignore_errors=True)

    def close(self) -> None:
        """Remove the staging folder once nothing is left in it (a stopped job keeps it)."""
        with contextlib.suppress(OSError):
            for folder in self._staging.iterdir():
                folder.rmdir()
            self._staging.rmdir()

    def copy(self, outputs: dict[str, str], path: str) -> dict[str, str] | None:
        """Give ``path`` (identical content) copies of another file's documents."""
        if any(not (self.out_dir / outputs.get(name, "\0")).is_file() for name in self.names):
            return None
        copied = {}
        for fmt in self.formats:
            relative = self.relative(path, fmt)
            with written_atomically(self.out_dir / relative) as temporary:
                shutil.copyfile(self.out_dir / outputs[fmt.name], temporary)
            copied[fmt.name] = relative
        return copied

    def _part_folder(self, path: str) -> Path:
        return self._staging / hashlib.sha256(os.fsencode(path)).hexdigest()[:24]


def _prefixes(inputs: Sequence[str]) -> list[str]:
    """Each input's folder under the format folder when a job has several inputs.

    Its own name, numbered when two inputs share a name, so no two subtrees meet.
    """
    if len(inputs) == 1:
        return [""]
    names = [os.path.basename(root) or "root" for root in inputs]
    repeated = {name for name in names if names.count(name) > 1}
    return [
        f"{number + 1}-{name}/" if name in repeated else f"{name}/"
        for number, name in enumerate(names)
    ]


def _mirrored(path: str, inputs: Sequence[str], prefixes: Sequence[str]) -> str:
    """The path relative to the input (file or folder) that holds it."""
    for root, prefix in zip(inputs, prefixes, strict=True):
        if path == root:  # a file given by name
            return os.path.basename(path) if len(inputs) == 1 else prefix.rstrip("/")
        if path.startswith(root.rstrip("/") + "/"):
            return prefix + os.path.relpath(path, root)
    return os.path.basename(path)


@contextlib.contextmanager
def written_atomically(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target`` to write, renamed over ``target`` once written,
    so no reader ever sees a truncated file; removed if the write fails. A full or
    read-only disk is an ``OutputUnwritableError``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with no_room_is_fatal(target):
            yield temporary
            temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def no_room_is_fatal(target: Path) -> Iterator[None]:
    """A full disk, quota or read-only file system while writing ``target`` as the
    job-level ``OutputUnwritableError``; other errors pass as they are."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise OutputUnwritableError(
            f"cannot write {target}: {exc.strerror}; every record is kept in the store: "
            "free space, then run again with --resume, or ocr-ray export"
        ) from exc
