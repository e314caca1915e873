"""Subcommands of optional components (``serve``, ``cluster``), found as entry points.

A component declares ``[project.entry-points."ocr_ray.commands"] NAME = "module:add"``;
``add(commands)`` adds its subparser and sets ``handler`` on it. The core never imports
a component by name. A component that cannot load still gets its subcommand, which
explains why (``ocr_ray.plugins.registry.load_error``): a missing optional dependency
is a usage error that names what to install; anything else is a bug in the component,
reported on every run so that it cannot hide.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ocr_ray.exceptions import OcrRayError
from ocr_ray.plugins import PluginBrokenError, registry


def add_component_commands(commands: argparse._SubParsersAction) -> None:
    """Add every installed component's subcommand to ``commands``."""
    for name in registry.entries(registry.COMMANDS):
        try:
            registry.load(registry.COMMANDS, name)(commands)
        except OcrRayError as error:
            _add_unavailable(commands, name, error)


def _add_unavailable(commands: argparse._SubParsersAction, name: str, error: OcrRayError) -> None:
    if isinstance(error, PluginBrokenError):
        print(f"ocr-ray: warning: {error}", file=sys.stderr)
    parser = commands.add_parser(name, help=f"unavailable: {error}", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=lambda _args: _raise(error))


def _raise(error: OcrRayError) -> NoReturn:
    raise error
