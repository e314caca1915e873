"""Output formats: one module per format, found in the registry like any plugin.

Everything that lists or checks formats (the CLI, ``submit()``, the API, the web page,
the export and the workers) asks here, so a new format is one module and one
entry-point line.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import TypeVar

from ocr_ray.exceptions import OcrRayError, UsageError
from ocr_ray.plugins import BundleFormat, DocumentFormat, Format, RecordFormat, registry

__all__ = [
    "all_formats",
    "default_formats",
    "get_format",
    "kind_of",
    "of_kind",
    "parse_formats",
]

_log = logging.getLogger(__name__)
_KIND_ORDER = (RecordFormat, BundleFormat, DocumentFormat)
_KIND_NAMES = ("record", "bundle", "document")
F = TypeVar("F", bound=Format)


class UnknownFormatError(UsageError):
    """A format name that no installed plugin registers."""


def get_format(name: str) -> Format:
    """The format registered as ``name``, or known by that alias; a usage error naming
    the choices if none is."""
    try:
        return _instance(_aliases().get(name, name))
    except KeyError:
        raise UnknownFormatError(
            f"unknown format {name!r}; choose from {', '.join(f.name for f in all_formats())}"
        ) from None


@functools.cache  # the registry is read once per process, so its aliases are fixed
def _aliases() -> dict[str, str]:
    """Each alias of an installed format, with the name it stands for."""
    return {alias: f.name for f in all_formats() for alias in f.aliases}


@functools.cache
def _instance(name: str) -> Format:
    format_class: type[Format] = registry.load(registry.FORMATS, name)
    return format_class()


def all_formats() -> list[Format]:
    """Every installed format: records, then bundles, then documents, each by name.

    A plugin that fails to load is left out with a warning; asking for it by name
    gives its error.
    """
    found = []
    for name in registry.entries(registry.FORMATS):
        try:
            found.append(_instance(name))
        except OcrRayError as exc:
            _log.warning("output format left out: %s", exc)
    return sorted(found, key=_rank)


def _rank(fmt: Format) -> tuple[int, str]:
    kind = next(n for n, base in enumerate(_KIND_ORDER) if isinstance(fmt, base))
    return kind, fmt.name


def kind_of(fmt: Format) -> str:
    """``record``, ``bundle`` or ``document``."""
    return _KIND_NAMES[_rank(fmt)[0]]


def default_formats() -> list[str]:
    """What a job that names no formats makes."""
    return [f.name for f in all_formats() if f.default]


def parse_formats(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Format names from a comma list (or items of comma lists), checked, in the
    registry's order; None means the defaults."""
    if value is None:
        return tuple(default_formats())
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    aliases = _aliases()
    wanted = {aliases.get(name, name) for name in (item.strip() for item in items)} - {""}
    unknown = sorted(name for name in wanted if name not in registry.entries(registry.FORMATS))
    if unknown:
        names = ", ".join(f.name for f in all_formats())
        raise UnknownFormatError(f"unknown format(s): {', '.join(unknown)}; choose from {names}")
    return tuple(sorted(wanted, key=lambda name: _rank(get_format(name))))


def of_kind(names: Iterable[str], kind: type[F]) -> list[F]:
    """The formats among ``names`` that are of ``kind`` (e.g. ``DocumentFormat``)."""
    formats = (get_format(name) for name in names)
    return [fmt for fmt in formats if isinstance(fmt, kind)]
