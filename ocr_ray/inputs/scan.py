"""Streaming, stable-order discovery of input files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ocr_ray.exceptions import InputNotFoundError
from ocr_ray.inputs.confine import escapes


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
) -> Iterator[str]:
    """Yield every candidate file under ``paths`` once, depth first, sorted by name.

    Hidden entries are ignored, directory symlink loops are visited once, and only one
    directory's listing is held in memory at a time per level, so huge trees stream.
    With a ``root``, a link whose target lies outside it is yielded as it is, neither
    followed nor opened, so that the job records it once as refused.
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    for path in paths:
        if os.path.isdir(path) and not escapes(path, root):
            yield from _walk(path, recursive=recursive, seen=seen_dirs, root=root)
        elif path not in seen_files:
            seen_files.add(path)  # a file named twice on the command line counts once
            yield path


def _walk(
    folder: str, *, recursive: bool, seen: set[tuple[int, int]], root: str | None
) -> Iterator[str]:
    try:
        stat = os.stat(folder)
    except OSError:
        return
    if (stat.st_dev, stat.st_ino) in seen:
        return
    seen.add((stat.st_dev, stat.st_ino))
    try:
        with os.scandir(folder) as listing:
            entries = sorted((e for e in listing if not e.name.startswith(".")), key=_name)
    except OSError:
        return
    for entry in entries:
        if root is not None and entry.is_symlink() and escapes(entry.path, root):
            yield entry.path
        elif _is_dir(entry):
            if recursive:
                yield from _walk(entry.path, recursive=recursive, seen=seen, root=root)
        elif _is_candidate_file(entry):
            yield entry.path


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _is_candidate_file(entry: os.DirEntry[str]) -> bool:
    """Regular files, and dangling symlinks so they are reported rather than lost.

    FIFOs, sockets and devices are never candidates: opening one could block forever.
    """
    try:
        if entry.is_file(follow_symlinks=True):
            return True
        return entry.is_symlink() and not os.path.exists(entry.path)
    except OSError:
        return True
