"""Starting or joining Ray with the environment OCR workers need."""

from __future__ import annotations

import ray

from ocr_ray.settings import get_settings

WORKER_ENV = {"OMP_THREAD_LIMIT": "1"}


def connect(address: str | None = None) -> None:
    """Join Ray at ``address`` (``None``: start or join a local Ray; ``"auto"``; ``ray://``)."""
    if ray.is_initialized():
        return
    settings = get_settings()
    local = address is None
    ray.init(
        address=address,
        runtime_env={"env_vars": dict(WORKER_ENV)},
        include_dashboard=settings.include_dashboard if local else None,
        log_to_driver=False,
        configure_logging=False,
    )
