"""The real ``ocr-ray`` CLI as a process, bound by file modes as any user is."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cli_bound_by_file_modes(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``ocr-ray ARGS`` with its state under ``home``. Root reads every file through its
    DAC capabilities, so as root it runs without them: still root, so it can enter the
    clone wherever it lives (a 0700 home folder included), but bound by file modes."""
    command = [sys.executable, "-m", "ocr_ray.cli", *args]
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", "--inh-caps=-all", f"--bounding-set={drop}", *command]
    # Ray's socket paths must stay under 108 bytes, which a test's tmp_path may not allow.
    with tempfile.TemporaryDirectory(prefix="ocr-ray-") as ray_tmp:
        env = dict(os.environ, OCR_RAY_HOME=str(home / "home"), RAY_TMPDIR=ray_tmp)
        return subprocess.run(
            command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO
        )


def cli(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed ``ocr-ray ARGS`` with its state under ``home`` (and ``env``)."""
    env = dict(env or os.environ, OCR_RAY_HOME=str(home / "home"))
    command = [str(REPO / ".venv" / "bin" / "ocr-ray"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
