"""The cluster tools' settings, read from ``OCR_RAY_*`` environment variables like the
library's (``ocr_ray.settings``)."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClusterSettings(BaseSettings):
    """Configuration of the swarm tools, the job scaler and the autoscaler's provider."""

    model_config = SettingsConfigDict(env_prefix="OCR_RAY_", extra="ignore")

    files_per_worker: int = Field(default=200, ge=1)
    max_replicas: int = Field(default=8, ge=0)
    scale_idle_s: float = Field(default=300.0, ge=0)  # idle time before scaling back down
    # What job-size scaling scales back to: the stack's --workers (the stack file sets it).
    workers: int = Field(default=1, ge=0)
    stack_name: str = "ocr"
    api_port: int = Field(default=8000, gt=0, lt=65536)  # published API port (health)
    # Read by the autoscaler's node provider on the head, to start workers like the stack's.
    head_host: str = "ray-head"
    input_dir: str = ""  # host folder mounted read-only as /data/inputs on workers
    worker_network: str = ""  # empty: <stack_name>_ocr
    loopback_prefix: str = ""  # host network only: "127.0.2" gives workers 127.0.2.N


@functools.lru_cache(maxsize=1)
def get_cluster_settings() -> ClusterSettings:
    """The cluster tools' settings, read once from the environment."""
    return ClusterSettings()
