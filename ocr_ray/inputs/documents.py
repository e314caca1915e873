"""Reading input files: cheap probing on the coordinator, page rendering on workers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from ocr_ray.exceptions import (
    CorruptImageError,
    CorruptPdfError,
    DecompressionBombError,
    EmptyFileError,
    EncryptedPdfError,
    FileChangedError,
    UnsupportedFormatError,
)
from ocr_ray.inputs.confine import pinned
from ocr_ray.inputs.os_errors import os_error
from ocr_ray.inputs.pdf_page import Box, PageContent, page_content, region_text

Kind = Literal["image", "pdf"]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = IMAGE_SUFFIXES | PDF_SUFFIXES
# Only TIFF is a document of pages; GIF and WebP frames are animation, so page 1 is read.
_MULTIPAGE_FORMATS = {"TIFF"}
_HASH_CHUNK = 1024 * 1024
# Resolutions a scanner really writes. Below it are the 72/96 dpi that software stamps
# on any image; outside it the engine is better off estimating from the text.
_PLAUSIBLE_DPI = range(100, 2401)
_PDFIUM_LOCK = threading.RLock()

# We enforce our own pixel cap with a clear error; Pillow's would fire at an unrelated size.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Probe:
    """What the coordinator learns about a file before any OCR is scheduled."""

    path: str
    size: int
    sha256: str
    kind: Kind
    page_count: int
    max_page_pixels: int
    encrypted: str | None = None  # "owner-password": see FileRecord.encrypted


def probe_file(path: str, *, dpi: int, max_pixels: int, root: str | None = None) -> Probe:
    """Hash and identify a file, raising a ``FileError`` for anything we cannot read.

    With a ``root``, a file that is not inside it raises ``OutsideInputRootError``.
    """
    with _translate_os_errors(path), pinned(path, root) as source:
        size, digest, head = _hash_file(source)
        if size == 0:
            raise EmptyFileError(f"{path}: the file is empty (0 bytes)")
        kind: Kind = "pdf" if head.startswith(b"%PDF-") else "image"
        with open_document(path, kind, dpi=dpi, source=source) as doc:
            pixels, encrypted = doc.max_page_pixels(), doc.encrypted
    if pixels > max_pixels:
        raise DecompressionBombError(
            f"{path}: a page has {pixels:,} pixels, over the limit of {max_pixels:,} "
            "(raise OCR_RAY_MAX_IMAGE_PIXELS or --max-pixels if the file is trusted)"
        )
    return Probe(path, size, digest, kind, doc.page_count, pixels, encrypted)


@contextlib.contextmanager
def open_unchanged(
    path: str, sha256: str, *, dpi: int, root: str | None = None
) -> Iterator[Document]:
    """The file a job read, opened again (confined to ``root`` as the job's reads
    were) only if its content is still what was read: ``FileChangedError`` if not."""
    with _translate_os_errors(path), pinned(path, root) as source:
        _, digest, head = _hash_file(source)
        if digest != sha256:
            raise FileChangedError(f"{path}: the file has changed since the job read it")
        kind: Kind = "pdf" if head.startswith(b"%PDF-") else "image"
        with open_document(path, kind, dpi=dpi, source=source) as doc:
            yield doc


def _hash_file(path: str) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size, head = 0, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            if not head:
                head = chunk[:8]
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest(), head


@contextlib.contextmanager
def _translate_os_errors(path: str) -> Iterator[None]:
    """An operating-system error on the file (not a decoder's) as its ``FileError``."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:  # raised by an image or PDF library, not the system
            raise
        raise os_error(path, exc) from exc


class Document:
    """Pages of one input, opened on the process that renders them."""

    page_count: int
    encrypted: str | None = None

    def max_page_pixels(self) -> int:
        """The largest page's pixel count at the rendering resolution."""
        raise NotImplementedError

    def page_image(self, index: int, dpi: int | None = None, box: Box | None = None) -> Image.Image:
        """Page ``index`` (0-based) as an image ready for OCR; a PDF page rendered at
        ``dpi`` (default: the document's rendering resolution), only its region ``box``
        if given; an image as it is."""
        raise NotImplementedError

    def region_text(self, index: int, box: Box) -> str:
        """The text layer's text in region ``box`` of PDF page ``index``."""
        return ""

    def page_dpi(self, index: int) -> int | None:
        """Page ``index``'s own resolution (an image's, a PDF page's scan's), or None when
        the file does not say it credibly."""
        return None

    def content(self, index: int) -> PageContent | None:
        """What PDF page ``index`` draws (text layer, scans); None for an image."""
        return None

    def close(self) -> None:
        """Release the file."""


class _ImageDocument(Document):
    def __init__(self, path: str, source: str) -> None:
        try:
            self._image = Image.open(source)
        except Image.UnidentifiedImageError as exc:
            raise UnsupportedFormatError(
                f"{path}: not a readable image or PDF (its content does not match any "
                "supported format, whatever its name says)"
            ) from exc
        self._path = path
        multipage = self._image.format in _MULTIPAGE_FORMATS
        self.page_count = getattr(self._image, "n_frames", 1) if multipage else 1

    def max_page_pixels(self) -> int:
        largest = 0
        for index in range(self.page_count):
            self._image.seek(index)
            largest = max(largest, self._image.width * self._image.height)
        return largest

    def page_image(self, index: int, dpi: int | None = None, box: Box | None = None) -> Image.Image:
        try:
            self._image.seek(index)
            self._image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptImageError(
                f"{self._path}: page {index + 1} cannot be decoded: {exc}"
            ) from exc
        return _ocr_ready(self._image)

    def page_dpi(self, index: int) -> int | None:
        self._image.seek(index)
        dpi: Any = self._image.info.get("dpi")
        try:
            vertical = round(float(dpi[1]))
        except (TypeError, ValueError, IndexError):
            return None
        return vertical if vertical in _PLAUSIBLE_DPI else None

    def close(self) -> None:
        self._image.close()


class _PdfDocument(Document):
    def __init__(self, path: str, source: str, dpi: int) -> None:
        import pypdfium2 as pdfium

        self._path, self._dpi, self._scale = path, dpi, dpi / 72.0
        try:
            self._pdf = pdfium.PdfDocument(source)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
                raise EncryptedPdfError(
                    f"{path}: the PDF is password-protected; decrypt it first (qpdf --decrypt)"
                ) from exc
            raise CorruptPdfError(f"{path}: the PDF cannot be parsed: {exc}") from exc
        self.page_count = len(self._pdf)
        self._contents: dict[int, PageContent] = {}
        if self.page_count == 0:
            raise CorruptPdfError(f"{path}: the PDF has no pages")
        # It opened without a password, so only an owner password can protect it.
        if pdfium.raw.FPDF_GetSecurityHandlerRevision(self._pdf.raw) != -1:
            self.encrypted = "owner-password"

    def max_page_pixels(self) -> int:
        sizes = (self._pdf.get_page_size(i) for i in range(self.page_count))
        return max(int(w * self._scale) * int(h * self._scale) for w, h in sizes)

    def page_image(self, index: int, dpi: int | None = None, box: Box | None = None) -> Image.Image:
        page = self._pdf[index]
        try:
            crop = (0.0, 0.0, 0.0, 0.0)
            if box is not None:  # render's crop is what to cut off each side
                width, height = page.get_size()
                crop = (box[0], box[1], width - box[2], height - box[3])
            scale = (dpi or self._dpi) / 72.0
            return page.render(scale=scale, grayscale=True, crop=crop).to_pil()
        except Exception as exc:  # pdfium reports damage as generic errors
            raise CorruptPdfError(
                f"{self._path}: page {index + 1} cannot be rendered: {exc}"
            ) from exc
        finally:
            page.close()

    def page_dpi(self, index: int) -> int | None:
        found = self.content(index)
        if found is None or not found.scanned or found.image_dpi is None:
            return None
        return found.image_dpi if found.image_dpi in _PLAUSIBLE_DPI else None

    def content(self, index: int) -> PageContent | None:
        if index not in self._contents:
            page = self._pdf[index]
            try:
                self._contents[index] = page_content(page)
            finally:
                page.close()
        return self._contents[index]

    def region_text(self, index: int, box: Box) -> str:
        page = self._pdf[index]
        try:
            return region_text(page, box)
        finally:
            page.close()

    def close(self) -> None:
        self._pdf.close()


@contextlib.contextmanager
def open_document(
    path: str, kind: Kind, *, dpi: int, source: str | None = None
) -> Iterator[Document]:
    """Open a file for page access; closed on exit.

    ``source`` is what to open when it is not ``path`` itself (a pinned file, see
    ``inputs.confine.pinned``); messages always name ``path``.
    """
    source = source or path
    # PDFium is not thread-safe (its last-error code is global), and the coordinator
    # probes on several threads: one PDF at a time per process.
    with _PDFIUM_LOCK if kind == "pdf" else contextlib.nullcontext():
        doc: Document = (
            _PdfDocument(path, source, dpi) if kind == "pdf" else _ImageDocument(path, source)
        )
        try:
            yield doc
        finally:
            doc.close()


def _ocr_ready(image: Image.Image) -> Image.Image:
    """Convert modes Tesseract cannot take (palette, alpha, CMYK, 16-bit) to RGB or L."""
    if image.mode in ("1", "L", "RGB"):
        return image.copy()
    if image.mode in ("I;16", "I", "F"):
        return image.convert("L")
    return image.convert("RGB")


def has_supported_suffix(path: str) -> bool:
    """Whether the file's name marks it as an input we read."""
    return os.path.splitext(path)[1].lower() in SUPPORTED_SUFFIXES
