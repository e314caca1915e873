"""Starting or joining Ray with the environment OCR workers need."""

from __future__ import annotations

import os

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
    ray.init(
        address=address,
        include_dashboard=get_settings().include_dashboard if address is None else None,
        log_to_driver=False,
        configure_logging=False,
    )
