"""Starting or joining Ray with the environment OCR workers need."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import ray

from ocr_ray.settings import get_settings

WORKER_ENV = {"OMP_THREAD_LIMIT": "1"}


def connect(address: str | None = None) -> None:
    """Join Ray at ``address`` (``None``: start or join a local Ray; ``"auto"``; ``ray://``)."""
    if ray.is_initialized():
        return
    # Local workers inherit the driver's environment; cluster images set it themselves, and
    # ocr_ray._tasks sets it again before an engine loads. No runtime_env: it would make
    # Ray start fresh workers for it instead of using the prestarted ones.
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    if address is None:
        _forget_dead_local_ray()
    ray.init(
        address=address,
        include_dashboard=get_settings().include_dashboard if address is None else None,
        log_to_driver=False,
        configure_logging=False,
    )


def start_local(cpus: int | None = None) -> None:
    """Start a local Ray that stays up: later runs on this machine join it (``ocr-ray up``).

    The workers take this process's environment, with the settings OCR needs.
    """
    settings = get_settings()
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head"]
    command += ["--disable-usage-stats", f"--include-dashboard={settings.include_dashboard}"]
    if cpus:
        command += ["--num-cpus", str(cpus)]
    subprocess.run(command, env={**os.environ, **WORKER_ENV}, check=True, capture_output=True)


def stop_local() -> None:
    """Stop the local Ray started by ``start_local`` (``ocr-ray down``)."""
    subprocess.run([str(Path(sys.executable).with_name("ray")), "stop"], capture_output=True)


def _forget_dead_local_ray() -> None:
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
