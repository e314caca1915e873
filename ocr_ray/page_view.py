"""A read page shown again: its image as the engine saw it, and its word boxes.

The results viewer's library side. The image comes from the job's input, read confined
to the job's input root as every read is, and only while the file is still what the
job read (``FileChangedError`` otherwise); the word boxes come from the store.
"""

from __future__ import annotations

import os

from PIL import Image

from ocr_ray.exceptions import OutsideInputRootError
from ocr_ray.inputs.confine import escapes, refusal
from ocr_ray.inputs.documents import open_unchanged
from ocr_ray.inputs.os_errors import os_error
from ocr_ray.inputs.pipeline import ReadOptions, page_as_read
from ocr_ray.models import FileRecord, PageResult
from ocr_ray.params import JobParams
from ocr_ray.plugins import Word
from ocr_ray.wordboxes import unpack

__all__ = ["file_identity", "page_image_as_read", "page_words"]


def file_identity(path: str, root: str | None) -> tuple[object, ...]:
    """Which file ``path`` is now (device, inode, size, mtime), checked against ``root``
    first, links resolved: a key for a cache of renders that a moved, changed or
    escaped file can never hit (``FileError`` when it is out of bounds or gone)."""
    if escapes(path, root):
        raise OutsideInputRootError(refusal(path))
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise os_error(path, exc) from exc
    return (path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def page_image_as_read(params: JobParams, record: FileRecord, page: PageResult) -> Image.Image:
    """Page ``page`` of ``record``'s file as it was read: upright and levelled as its
    record says (``FileError``: the file is outside the root, gone, or changed)."""
    assert record.sha256 is not None  # only a read file has pages to show
    with open_unchanged(
        record.source_path, record.sha256, dpi=params.dpi, root=params.input_root
    ) as doc:
        return page_as_read(doc, page, ReadOptions(dpi=params.dpi))


def page_words(blob: bytes) -> tuple[tuple[int, int], list[Word]]:
    """A page's stored word boxes: the size of the image they are in, and the words."""
    return unpack(blob)
