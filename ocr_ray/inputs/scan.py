"""Streaming, stable-order, race-free discovery of input files.

The walk holds a descriptor of each folder it lists and opens every sub-folder relative
to it, then checks where the folder it really opened lies (``confine.opened_path``).
A link swapped in while the walk runs can therefore never lead it out of the input
root, and no name outside the root is ever listed; names are built from the entries
read, so a tree deeper than PATH_MAX is walked whole. A folder that cannot be listed is
one ``WalkError`` (with its code), never a silent gap.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ocr_ray.exceptions import ErrorCode, InputNotFoundError
from ocr_ray.inputs.confine import escapes, opened_path, within
from ocr_ray.inputs.os_errors import code_of

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass(frozen=True)
class WalkError:
    """An entry the walk found but could not list: recorded as failed, with its code."""

    path: str
    code: ErrorCode
    message: str


Found = str | WalkError


def check_inputs(paths: list[str]) -> list[str]:
    """Absolute input paths; a missing one is a usage error before any work starts."""
    if not paths:
        raise InputNotFoundError("no input paths given")
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if not path.exists():
            raise InputNotFoundError(f"input not found: {raw}")
        resolved.append(str(path))
    return resolved


def iter_files(
    paths: list[str], *, recursive: bool = True, root: str | None = None
) -> Iterator[Found]:
    """Yield every candidate file under ``paths`` once, depth first, sorted by name,
    and a ``WalkError`` for each folder that could not be listed.

    Hidden entries are ignored, a folder reached twice (a link loop) is listed once,
    and only one folder's listing is held in memory at a time per level, so huge trees
    stream. With a ``root``, a link whose target lies outside it is yielded as it is,
    neither followed nor listed, so that the job records it once as refused.
    """
    walk = _Walk(recursive=recursive, root=root)
    seen_files: set[str] = set()
    for path in paths:
        if os.path.isdir(path) and not escapes(path, root):
            yield from walk.top(path)
        elif path not in seen_files:
            seen_files.add(path)  # a file named twice on the command line counts once
            yield path


class _Walk:
    def __init__(self, *, recursive: bool, root: str | None) -> None:
        self.recursive, self.root = recursive, root
        self.seen: set[tuple[int, int]] = set()

    def top(self, path: str) -> Iterator[Found]:
        try:
            fd = os.open(path, _DIR_FLAGS)
        except OSError as exc:
            yield _error(path, exc, "could not be opened")
            return
        yield from self._folder(fd, path)

    def _folder(self, fd: int, path: str) -> Iterator[Found]:
        """Everything under the open folder ``fd`` (named ``path``); closes ``fd``."""
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) in self.seen:
                return
            self.seen.add((info.st_dev, info.st_ino))
            try:
                entries = _list_folder(fd, path)
            except OSError as exc:
                yield _error(path, exc, "could not be listed")
                return
            for entry in entries:
                yield from self._entry(fd, entry, os.path.join(path, entry.name))
        finally:
            os.close(fd)

    def _entry(self, parent: int, entry: os.DirEntry[str], path: str) -> Iterator[Found]:
        try:
            linked, folder = entry.is_symlink(), entry.is_dir(follow_symlinks=False)
            plain = entry.is_file(follow_symlinks=False)
        except OSError as exc:
            yield path if exc.errno == errno.ENOENT else _error(path, exc, "could not be read")
            return
        if folder or linked:
            yield from self._maybe_folder(parent, entry.name, path, linked=linked)
        elif plain:
            yield path
        # FIFOs, sockets and devices are never candidates: opening one could block forever.

    def _maybe_folder(self, parent: int, name: str, path: str, *, linked: bool) -> Iterator[Found]:
        """A folder is walked if it lies inside the root; a link to a file is a file."""
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except NotADirectoryError:
            yield from self._linked_file(parent, name, path) if linked else ()
            return
        except OSError as exc:
            # A dangling link is a file that is not there, reported by the probe.
            gone = linked and exc.errno == errno.ENOENT
            yield path if gone else _error(path, exc, "could not be opened")
            return
        if self.root is not None and not within(opened_path(fd, path), self.root):
            os.close(fd)
            yield path  # refused by the probe, once, without listing it
        elif self.recursive:
            yield from self._folder(fd, path)
        else:
            os.close(fd)

    def _linked_file(self, parent: int, name: str, path: str) -> Iterator[Found]:
        try:
            target = os.stat(name, dir_fd=parent).st_mode
        except OSError:
            yield path  # the probe says why it cannot be read
            return
        if stat.S_ISREG(target) or (self.root is not None and escapes(path, self.root)):
            yield path


def _list_folder(fd: int, path: str) -> list[os.DirEntry[str]]:
    """The visible entries of the open folder ``fd`` (named ``path``), sorted by name."""
    with os.scandir(fd) as listing:
        return sorted((e for e in listing if not e.name.startswith(".")), key=_name)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _error(path: str, exc: OSError, what: str) -> WalkError:
    code, why = code_of(exc)
    return WalkError(path, code, f"{path}: {what}: {why}")
