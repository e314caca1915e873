"""Placing the workers' archive formats under ``<out>/<format>/``, mirroring input paths.

Workers send each page range's share back as bytes (a scan's PDF is about the size of
the scan, its hOCR and ALTO a few tens of KB a page), so no node needs a shared
output volume. A share is written to a staging folder as soon as it arrives, and a
file's documents are assembled once its last range is in: the coordinator holds no
pages in memory and never reads an input again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from ocr_ray.formats._archive import alto_document, hocr_document

SUFFIXES = {"pdf": ".pdf", "hocr": ".hocr", "alto": ".xml"}
_STAGING = ".ocr-ray-parts"


class ArchiveWriter:
    """Writes each input's searchable PDF, hOCR and ALTO as its page ranges arrive."""

    def __init__(self, out_dir: Path, formats: Sequence[str], inputs: Sequence[str]) -> None:
        self.out_dir, self.formats = out_dir, tuple(formats)
        self._inputs = [os.path.abspath(p).rstrip("/") or "/" for p in inputs]
        self._prefixes = _prefixes(self._inputs)
        self._staging = out_dir / _STAGING

    def relative(self, path: str, fmt: str) -> str:
        """``<fmt>/<input path relative to the folder given><suffix>``, '/'-separated."""
        name = _mirrored(os.path.abspath(path), self._inputs, self._prefixes)
        suffix = SUFFIXES[fmt]
        return f"{fmt}/{name if name.endswith(suffix) else name + suffix}"

    def stage(self, path: str, first: int, part: dict[str, bytes]) -> None:
        """Keep one page range's share on disk until the whole file is in."""
        folder = self._part_folder(path)
        folder.mkdir(parents=True, exist_ok=True)
        for fmt, data in part.items():
            (folder / f"{first:08d}.{fmt}").write_bytes(data)

    def finish(self, path: str, firsts: Sequence[int], system: str) -> dict[str, str]:
        """Assemble the file's documents from its staged ranges; their relative paths."""
        folder = self._part_folder(path)
        written = {}
        for fmt in self.formats:
            parts = [(folder / f"{first:08d}.{fmt}").read_bytes() for first in sorted(firsts)]
            relative = self.relative(path, fmt)
            _write_atomically(self.out_dir / relative, _ASSEMBLERS[fmt](parts, path, system))
            written[fmt] = relative
        self.discard(path)
        return written

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
        if any(not (self.out_dir / outputs.get(fmt, "\0")).is_file() for fmt in self.formats):
            return None
        copied = {}
        for fmt in self.formats:
            relative = self.relative(path, fmt)
            target = self.out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.out_dir / outputs[fmt], target)
            copied[fmt] = relative
        return copied

    def _part_folder(self, path: str) -> Path:
        return self._staging / hashlib.sha256(path.encode()).hexdigest()[:24]


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


def _hocr(parts: list[bytes], path: str, system: str) -> bytes:
    pages = [part.decode("utf-8") for part in parts]
    return hocr_document(pages, title=os.path.basename(path), system=system).encode("utf-8")


def _alto(parts: list[bytes], path: str, system: str) -> bytes:
    pages = [
        etree.tostring(page)
        for part in parts
        for page in etree.fromstring(b"<pages>" + part + b"</pages>")
    ]
    return alto_document(pages, file_name=os.path.basename(path), software=system)


def _pdf(parts: list[bytes], path: str, system: str) -> bytes:
    import pikepdf

    if len(parts) == 1:
        return parts[0]
    with pikepdf.new() as merged:
        for part in parts:
            with pikepdf.open(io.BytesIO(part)) as pdf:
                merged.pages.extend(pdf.pages)
        buffer = io.BytesIO()
        merged.save(buffer)
        return buffer.getvalue()


_ASSEMBLERS = {"pdf": _pdf, "hocr": _hocr, "alto": _alto}


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    temporary.write_bytes(data)
    temporary.replace(target)
