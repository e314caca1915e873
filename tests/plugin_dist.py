"""Plugins installed for a test or benchmark run, the way a real package installs them:
a distribution's ``entry_points.txt`` on the path, which Ray's workers inherit too."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# group -> entry name -> "module:attr" (optionally followed by " [extra]")
Entries = dict[str, dict[str, str]]


def write_dist(folder: Path, name: str, entries: Entries) -> Path:
    """A ``NAME-0.1.dist-info`` under ``folder`` declaring ``entries``; returns ``folder``."""
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = [
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items())
        for group, items in entries.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return folder


def install(folder: Path, name: str, entries: Entries) -> None:
    """Write the distribution and put it on this process's path and its children's
    (set before Ray starts, so that its workers find the plugins too)."""
    write_dist(folder, name, entries)
    sys.path.insert(0, str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(folder), os.environ.get("PYTHONPATH")])
    )
