"""The results viewer's page images and word boxes.

A page image is rendered on demand from the job's input, as the page was read
(``ocr_ray.page_view``), scaled for the screen and encoded. Renders are cached within a
size bound, keyed by the file's identity on disk, so a changed or vanished file is
noticed at once without hashing it on every request.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from ocr_ray.models import FileRecord, PageResult
from ocr_ray.page_view import file_identity, page_image_as_read, page_words
from ocr_ray.params import JobParams
from ocr_ray.plugins import Word

_JPEG_QUALITY = 85  # text stays crisp at screen widths; 1200 pixels wide: 160-540 kB


@dataclass(frozen=True)
class PageImage:
    """An encoded page image and the width and height it has."""

    data: bytes
    media_type: str
    size: tuple[int, int]


class RenderCache:
    """Encoded renders, the least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[object, ...], PageImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> PageImage | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], image: PageImage) -> None:
        with self._lock:
            if key in self._items or len(image.data) > self.max_bytes:
                return
            self._items[key] = image
            self._bytes += len(image.data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.data)

    @property
    def size_bytes(self) -> int:
        """What the cache holds now."""
        return self._bytes


def shown_width(asked: int, full: int) -> int:
    """The width a page is shown at: as asked, but never wider than it was read."""
    return max(1, min(asked, full))


def page_image(
    params: JobParams, record: FileRecord, page: PageResult, width: int, cache: RenderCache
) -> PageImage:
    """Page ``page`` of ``record``'s file, at most ``width`` pixels wide (``FileError``:
    the file is outside the root, gone, or changed)."""
    key = (file_identity(record.source_path, params.input_root), page.number, width)
    found = cache.get(key)
    if found is None:
        found = _render(params, record, page, width)
        cache.put(key, found)
    return found


def _render(params: JobParams, record: FileRecord, page: PageResult, width: int) -> PageImage:
    image = page_image_as_read(params, record, page)
    # JPEG takes grey or RGB; a bitonal page turns grey first, so scaling smooths it.
    image = image.convert("L" if image.mode in ("1", "L") else "RGB")
    out = shown_width(width, image.width)
    if out < image.width:
        height = max(1, round(image.height * out / image.width))
        image = image.resize((out, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return PageImage(encoded.getvalue(), "image/jpeg", image.size)


def scaled_words(blob: bytes | None, width: int) -> tuple[tuple[int, int] | None, list[Word]]:
    """A page's words with their boxes in the pixels of its image shown at ``width``,
    and that image's size (None: the engine did not read the page)."""
    if blob is None:
        return None, []
    (full_w, full_h), words = page_words(blob)
    out = shown_width(width, full_w)
    factor = out / full_w
    scaled = [
        Word(w.text, tuple(round(v * factor) for v in w.box), w.confidence)  # type: ignore[arg-type]
        for w in words
    ]
    return (out, max(1, round(full_h * factor))), scaled


def shown_path(path: str, params: JobParams) -> str:
    """A file's name as its owner knows it: under the folder they gave (an upload's:
    the name it was sent with), not the server's path to it."""
    for given in params.paths:
        base = given.rstrip("/") + "/"
        if path.startswith(base):
            return path[len(base) :]
    return os.path.basename(path)


def shown_inputs(params: JobParams, most: int) -> list[str]:
    """A job's first ``most`` inputs as its owner knows them: folders under the input
    root they chose from, or "uploaded files" for an upload."""
    root = params.input_root
    if root is None:
        return list(params.paths[:most])
    uploaded = os.path.basename(os.path.dirname(root)) == "uploads"
    shown = []
    for path in params.paths[:most]:
        inside = os.path.relpath(path, root)
        if inside == ".":
            shown.append(UPLOADED if uploaded else root)
        else:
            shown.append(inside)
    return shown


UPLOADED = "uploaded files"
