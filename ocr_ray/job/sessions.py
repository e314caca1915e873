"""The Ray sessions ocr_ray starts on this machine: where the kept one is noted, which
processes are a session's, and stopping one session without touching any other."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ocr_ray.settings import get_settings


def local_note() -> Path:
    """Where the session of the Ray that ``start_local`` started is noted."""
    return get_settings().home / "local-ray-session"


def stop_session(session: str) -> None:
    """Stop the processes of one Ray session (its folder), and their children.

    ``ray stop`` would stop every Ray on the machine, other users' and containers'
    included: only the processes of this one's session are stopped here.
    """
    import psutil

    ours = session_processes(session)
    ours += [child for p in ours for child in _children(p)]
    for process in ours:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(ours, timeout=15)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    forget_dead_local_ray()


def session_processes(session: str) -> list[Any]:
    """The processes whose command line names the Ray session folder ``session`` (but
    this one, whose may: the keeper's)."""
    import psutil

    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if session in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()
    ]


def _children(process: object) -> list[object]:
    import psutil

    try:
        return list(process.children(recursive=True))  # type: ignore[attr-defined]
    except psutil.Error:
        return []


def forget_dead_local_ray() -> None:
    """Drop Ray's note of the last ``ray start`` on this machine if that Ray is gone.

    ``ray.init()`` joins the address in that note; after a crash it points at nothing,
    and joining would wait for minutes instead of starting a fresh local Ray.
    """
    try:
        from ray._private import services, utils

        noted = utils.read_ray_address()
        if noted and noted not in services.find_gcs_addresses():
            with contextlib.suppress(OSError):
                os.remove(utils.get_ray_address_file(None))
    except Exception:  # a Ray without these helpers: leave the note alone
        return
