"""Keeping an API job's reads inside its input root, links included.

The CLI and the library have no root (``root=None``) and read what they are given.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ocr_ray.exceptions import OutsideInputRootError

# Linux names every open descriptor's file here; reading the link names the file that
# was really opened, whatever the path's links pointed to a moment before.
_FD_LINKS = "/proc/self/fd"


def within(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` is ``root`` or lies under it.

    Whole path components are compared, so ``/data-evil`` is not under ``/data``.
    """
    return real == root or real.startswith(root.rstrip("/") + "/")


def escapes(path: str, root: str | None) -> bool:
    """Whether ``path``, its links resolved, lies outside ``root`` (never, without one)."""
    return root is not None and not within(os.path.realpath(path), root)


def refusal(path: str) -> str:
    """The message recorded for an entry whose target is outside the input root."""
    return f"{path}: a link to a place outside the job's input root; not read"


def opened_path(fd: int, path: str) -> str:
    """Where the file or folder open as ``fd`` really lies (``path`` named it when it
    was opened; it is resolved instead only where ``/proc`` is missing)."""
    link = f"{_FD_LINKS}/{fd}"
    return os.readlink(link) if os.path.isdir(_FD_LINKS) else os.path.realpath(path)


@contextlib.contextmanager
def pinned(path: str, root: str | None) -> Iterator[str]:
    """A path that opens exactly the file ``path`` named when it was checked.

    The file is opened once and the opened file's own name is checked against
    ``root``; readers then open ``/proc/self/fd/N``, so a link swapped between the
    check and the read cannot redirect them.
    """
    if root is None:
        yield path
        return
    if escapes(path, root):  # checked first, so an outside device is never opened
        raise OutsideInputRootError(refusal(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not within(opened_path(fd, path), root):
            raise OutsideInputRootError(refusal(path))
        yield f"{_FD_LINKS}/{fd}" if os.path.isdir(_FD_LINKS) else path
    finally:
        os.close(fd)
