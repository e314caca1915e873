"""Plugins found as entry points: engines, output formats and CLI components alike.

ocr_ray's own engines and formats are registered the same way, in its
``pyproject.toml``, so built-ins and third parties come through one door (as OCRmyPDF
registers its built-in plugins and then setuptools ones). Entry points are read once
per process, and each plugin is imported once, when first asked for.
"""

from __future__ import annotations

import functools
import os
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ocr_ray.exceptions import ConfigurationError, OcrRayError, UsageError

ENGINES = "ocr_ray.engines"
FORMATS = "ocr_ray.formats"
COMMANDS = "ocr_ray.commands"
# Top-level packages of ocr_ray's own distribution: an import failing inside them is a bug.
_OWN_PACKAGES = frozenset({"ocr_ray", "serve", "cluster"})
_KINDS = {ENGINES: "engine", FORMATS: "output format", COMMANDS: "component"}
# Settings that registered plugins before entry points did, and are no longer read.
_RETIRED = {"OCR_RAY_EXTRA_PROVIDERS": ENGINES}


class PluginBrokenError(OcrRayError):
    """An installed plugin failed to load for a reason other than a missing dependency."""


def entries(group: str) -> dict[str, EntryPoint]:
    """The plugins registered in ``group``, by name (the first of a repeated name)."""
    for variable, replacement in _RETIRED.items():
        if variable in os.environ:
            raise ConfigurationError(
                f"{variable} is no longer read: register plugins as entry points in the "
                f"group {replacement!r} (see the README's Plugins section), then unset it"
            )
    return _entries(group)


@functools.cache
def _entries(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        found.setdefault(entry.name, entry)
    return found


def load(group: str, name: str) -> Any:
    """The object the plugin ``name`` of ``group`` registered; ``KeyError`` if none is.

    A plugin that cannot be imported is an ``OcrRayError`` that names it (see
    ``load_error``), never a bare traceback.
    """
    entries(group)[name]  # the retired-settings check, and KeyError for unknown names
    return _load(group, name)


@functools.cache
def _load(group: str, name: str) -> Any:
    entry = _entries(group)[name]
    try:
        return entry.load()
    except Exception as exc:
        raise load_error(entry, exc) from exc


def load_error(entry: EntryPoint, exc: Exception) -> OcrRayError:
    """Why ``entry`` did not load, as the user should read it.

    A missing third-party module is a usage error naming what to install; anything
    else is a bug in the plugin, reported as such.
    """
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and missing.partition(".")[0] not in _OWN_PACKAGES:
        return UsageError(
            f"'{entry.name}' needs the optional dependency {missing!r}: {_fix(entry)}"
        )
    kind = _KINDS.get(entry.group, "plugin")
    return PluginBrokenError(
        f"the '{entry.name}' {kind} ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
    )


def _fix(entry: EntryPoint) -> str:
    """The install command for the extra that ``entry`` declares it needs, from the
    distribution that registered it."""
    dist = entry.dist.name if entry.dist is not None else "ocr-ray"
    extras = ",".join(entry.extras)
    return (
        f"pip install '{dist}[{extras}]'" if extras else f"reinstall {dist} with its dependencies"
    )
