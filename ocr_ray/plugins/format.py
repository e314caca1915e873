"""What an output-format plugin implements: one class per format.

A format is one of three kinds:

* a ``RecordFormat`` writes every record of a job into one file (``results.<suffix>``);
* a ``BundleFormat`` packs what the other formats wrote into one file (the ZIP);
* a ``DocumentFormat`` makes one document per input, under ``OUT/<folder>/``: each
  worker makes its page range's *part* as it reads, and the coordinator puts a file's
  parts together once its last range is in.

Register the class in ``pyproject.toml``::

    [project.entry-points."ocr_ray.formats"]
    myformat = "my_package.formats:MyFormat"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from PIL import Image

    from ocr_ray.models import FileRecord

Kind = Literal["image", "pdf"]


class Format(ABC):
    """An output format; the CLI, ``submit()``, the API and the web page all list it."""

    name: ClassVar[str]  # what users ask for: --formats NAME
    #: Other names users may ask for it by (the original client's ``text`` for ``txt``).
    aliases: ClassVar[tuple[str, ...]] = ()
    suffix: ClassVar[str]  # of the files it writes, with the dot
    media_type: ClassVar[str]
    label: ClassVar[str]  # how the web page names it
    #: Made when a job names no formats.
    default: ClassVar[bool] = False
    #: What the engine must give besides text (a Provider's ``gives``), e.g. "hocr".
    needs: ClassVar[frozenset[str]] = frozenset()


class RecordFormat(Format):
    """Every record of a job in one file."""

    @abstractmethod
    def write(self, records: Iterable[FileRecord], path: Path) -> None:
        """Write ``records`` (a stream: a job can hold millions) to ``path``."""


class BundleFormat(Format):
    """One file that packs what the job's other formats wrote."""

    @abstractmethod
    def bundle(self, members: Sequence[Path], root: Path, path: Path) -> None:
        """Pack ``members`` (files, and folders with everything under them), named
        relative to ``root``, into ``path``."""


@dataclass(frozen=True)
class Source:
    """The input a page range comes from, already opened inside its root."""

    path: str  # a path that reads the pinned file (e.g. /proc/self/fd/N)
    kind: Kind


@dataclass(frozen=True)
class DocumentPage:
    """What document formats get of one page that was read."""

    index: int  # 0-based page of the input
    text: str
    hocr: str  # the page's hOCR ``ocr_page`` element ("" if not asked for or not read)
    rotation: int  # degrees clockwise the page was turned before reading
    dpi: int  # resolution of the image the boxes refer to
    leveled: Image.Image | None = None  # the deskewed page, which replaces the original
    own_dpi: int | None = None  # an image read smaller than it is: its own resolution
    replaces_layer: bool = False  # read again over an earlier invisible OCR layer, to drop


@dataclass(frozen=True)
class Checked:
    """A document and what its format's validator found of it (see ``assemble``)."""

    data: bytes
    standard: str  # what it was checked against: "PDF/A-2b"
    passed: bool
    findings: tuple[str, ...] = ()  # why not, when it did not pass


class DocumentFormat(Format):
    """One document per input, made by the workers as they read."""

    #: The folder under ``OUT/`` its documents go to; empty: the format's name.
    folder: ClassVar[str] = ""

    @classmethod
    def folder_name(cls) -> str:
        """``OUT/<this>/`` holds the format's documents."""
        return cls.folder or cls.name

    @abstractmethod
    def part(self, pages: Sequence[DocumentPage], source: Source, *, system: str) -> bytes:
        """This page range's share of the input's document (on the worker); ``system``
        is the engine and its version."""

    @abstractmethod
    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> bytes | Checked:
        """The input's document from its ranges' parts, in page order (on the
        coordinator). ``name`` is the input's file name; ``system`` the engine and
        its version. A format that validates what it makes returns it ``Checked``;
        one that did not pass is still written, and its record says so."""
