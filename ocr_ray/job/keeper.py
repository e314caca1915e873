"""A local Ray that stays warm between runs and stops itself once idle.

A run (or ``submit()``) that finds no local Ray starts one as ``ocr-ray up`` does,
and with it this keeper, a small detached process. Each ocr_ray process that joins a
local Ray notes its pid in that Ray's own session folder (``ocr-ray-users/``), so
processes with another ``OCR_RAY_HOME`` count too; the keeper stops that Ray (its
processes only) once no noted process has been alive for ``keep_local_ray_s`` seconds.
``ocr-ray down`` stops it at once; ``OCR_RAY_KEEP_LOCAL_RAY_S=0`` keeps the old way, a
Ray per run.

    python -m ocr_ray.job.keeper IDLE_S SESSION_FOLDER
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ocr_ray.job.sessions import local_note, session_processes, stop_session

_POLL_S = 2.0


def users_folder(session: str) -> Path:
    """Where the processes using the Ray of ``session`` (its folder) note their pids."""
    return Path(session) / "ocr-ray-users"


def note_user(session: str) -> None:
    """Note this process as a user of the Ray of ``session`` until it exits."""
    if not session:
        return
    mark = users_folder(session) / str(os.getpid())
    if mark.exists():
        return
    try:
        mark.parent.mkdir(exist_ok=True)
        mark.touch()
    except OSError:  # another user's Ray: its keeper, if any, is theirs
        return
    atexit.register(lambda: mark.unlink(missing_ok=True))


def start_keeper(idle_s: float, session: str) -> None:
    """Start the keeper of the local Ray just started (its session folder), detached
    from this process."""
    subprocess.Popen(
        [sys.executable, "-m", "ocr_ray.job.keeper", str(idle_s), session],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the run's terminal does not reach it
    )


def live_users(session: str) -> list[int]:
    """The noted pids still alive; the marks of dead ones are removed."""
    alive = []
    for mark in users_folder(session).glob("*"):
        try:
            pid = int(mark.name)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            mark.unlink(missing_ok=True)
            continue
        except PermissionError:  # alive, another user's
            pass
        alive.append(pid)
    return alive


def keep(idle_s: float, session: str) -> None:
    """Wait until the Ray of ``session`` has had no user for ``idle_s`` seconds, then
    stop it (that session's processes, whatever the note now says). Returns when that
    Ray is gone another way (``ocr-ray down``)."""
    quiet_since = time.monotonic()
    while session_processes(session):
        if live_users(session):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= idle_s:
            stop_session(session)
            break
        time.sleep(min(_POLL_S, max(idle_s / 4, 0.1)))
    note = local_note()
    with contextlib.suppress(OSError):
        if note.read_text(encoding="utf-8").strip() == session:
            note.unlink()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        keep(float(sys.argv[1]), sys.argv[2])
