"""Word boxes kept compactly, for every page the engine read (the results viewer's).

One page's words are one zlib-compressed blob: a header (format version, the size of
the image the boxes are in, the word count), then each column in turn (lefts, tops,
rights, bottoms as 16-bit pixels, confidences as whole percent) and the words' text
joined by unit separators. Columns compress far better than rows: neighbouring lefts
and tops repeat.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from collections.abc import Sequence

from ocr_ray.plugins.engine import Word

_VERSION = 1
_HEADER = struct.Struct("<BHHI")  # version, width, height, words
_LIMIT = 0xFFFF  # a 16-bit pixel; pages are far smaller (max_image_pixels)
_SEPARATOR = "\x1f"  # no engine puts it in a word


def pack(words: Sequence[Word], size: tuple[int, int]) -> bytes:
    """``words`` found on an image of ``size`` (width, height) as one blob."""
    columns = [array("H", (min(w.box[i], _LIMIT) for w in words)) for i in range(4)]
    confidences = array("B", (max(0, min(100, round(w.confidence))) for w in words))
    texts = _SEPARATOR.join(w.text.replace(_SEPARATOR, " ") for w in words).encode()
    header = _HEADER.pack(_VERSION, min(size[0], _LIMIT), min(size[1], _LIMIT), len(words))
    body = b"".join(c.tobytes() for c in columns) + confidences.tobytes() + texts
    return zlib.compress(header + body, 9)


def unpack(blob: bytes) -> tuple[tuple[int, int], list[Word]]:
    """The image size and the words that ``pack`` kept."""
    data = zlib.decompress(blob)
    version, width, height, count = _HEADER.unpack_from(data)
    if version != _VERSION:
        raise ValueError(f"word boxes of an unknown format version {version}")
    offset = _HEADER.size
    columns = []
    for _ in range(4):
        column = array("H")
        column.frombytes(data[offset : offset + 2 * count])
        columns.append(column)
        offset += 2 * count
    confidences = data[offset : offset + count]
    texts = data[offset + count :].decode().split(_SEPARATOR) if count else []
    words = [
        Word(texts[i], (columns[0][i], columns[1][i], columns[2][i], columns[3][i]), confidences[i])
        for i in range(count)
    ]
    return (width, height), words
