"""Subcommands of optional components (``serve``, ``cluster``), found as entry points.

A component declares ``[project.entry-points."ocr_ray.commands"] NAME = "module:add"``;
``add(commands)`` adds its subparser and sets ``handler`` on it. The core never imports
a component by name. A component that cannot load still gets its subcommand, which
explains why: a missing optional dependency is a usage error that names the extra to
install; anything else is a bug in the component, reported on every run so that it
cannot hide.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import NoReturn

from ocr_ray.exceptions import OcrRayError, UsageError

GROUP = "ocr_ray.commands"
# Top-level packages of this distribution: an import failing inside them is a bug.
_OWN_PACKAGES = frozenset({"ocr_ray", "serve", "cluster"})


class ComponentBrokenError(OcrRayError):
    """An installed component failed to load for a reason other than a missing extra."""


def add_component_commands(commands: argparse._SubParsersAction) -> None:
    """Add every installed component's subcommand to ``commands``."""
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            entry.load()(commands)
        except Exception as exc:
            _add_unavailable(commands, entry, exc)


def _add_unavailable(
    commands: argparse._SubParsersAction, entry: EntryPoint, exc: Exception
) -> None:
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and missing.partition(".")[0] not in _OWN_PACKAGES:
        error: OcrRayError = UsageError(
            f"'{entry.name}' needs the optional dependency {missing!r}: "
            f"pip install 'ocr-ray[{entry.name}]'"
        )
    else:
        error = ComponentBrokenError(
            f"the '{entry.name}' component ({entry.value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        )
        print(f"ocr-ray: warning: {error}", file=sys.stderr)
    parser = commands.add_parser(entry.name, help=f"unavailable: {error}", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=lambda _args: _raise(error))


def _raise(error: OcrRayError) -> NoReturn:
    raise error
