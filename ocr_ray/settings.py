"""Every operator setting in one place, read from ``OCR_RAY_*`` environment variables."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEBIAN_TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"


class Settings(BaseSettings):
    """Configuration for the library, the CLI, the API and the cluster tools.

    Each field is read from the environment variable ``OCR_RAY_<NAME>``; units are
    part of the name (``_S`` seconds, ``_BYTES`` bytes).
    """

    model_config = SettingsConfigDict(env_prefix="OCR_RAY_", extra="ignore")

    # Where state lives.
    home: Path = Field(default_factory=lambda: Path.home() / ".ocr_ray")
    store_url: str = ""  # empty: sqlite:///<home>/jobs.db; mongodb://... for the cluster

    # OCR defaults.
    tessdata_prefix: str = ""  # empty: $TESSDATA_PREFIX, then Debian's tessdata
    dpi: int = Field(default=300, ge=50, le=1200)
    max_image_pixels: int = Field(default=150_000_000, gt=0)
    timeout_per_file_s: float = Field(default=600.0, gt=0)
    pages_per_task: int = Field(default=4, ge=1)
    # Small files are packed into one task up to this many pixels (about one A4 page
    # at 300 dpi) and this many files, so a Ray task's fixed cost is shared.
    task_pixels: int = Field(default=8_000_000, ge=1)
    max_files_per_task: int = Field(default=64, ge=1)
    probe_batch: int = Field(default=256, ge=1)  # paths per probe task on a worker
    # A page whose mean word confidence (0-100) is below this gets an orientation check;
    # still below after it, its record carries a low_confidence warning.
    low_confidence: float = Field(default=60.0, ge=0, le=100)
    extra_providers: str = ""  # "name=module:attr,..." operator-registered providers

    # Execution.
    max_in_flight: int = Field(default=0, ge=0)  # 0: twice the cluster's CPUs
    max_retries: int = Field(default=3, ge=0)
    write_batch_size: int = Field(default=64, ge=1)
    write_interval_s: float = Field(default=1.0, gt=0)
    # A running job renews its lease this often; after 3 missed renewals it shows as
    # interrupted (its coordinator died) and may be resumed.
    heartbeat_s: float = Field(default=10.0, gt=0)
    include_dashboard: bool = False  # for a local Ray; cluster heads always run it

    # API (serve/).
    api_token: str = ""
    api_token_file: str = ""
    input_roots: str = ""  # colon-separated folders that API jobs may read
    upload_max_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    output_root: str = ""  # empty: <home>/outputs
    user_max_running_jobs: int = Field(default=4, ge=0)  # per API user; 0: no limit
    # After this many wrong keys from one address, each further one locks it out for
    # twice as long as the last (1 s, 2 s, 4 s ...), up to auth_lockout_max_s.
    auth_failures_allowed: int = Field(default=5, ge=1)
    auth_lockout_max_s: float = Field(default=300.0, gt=0)

    # Cluster (cluster/).
    files_per_worker: int = Field(default=200, ge=1)
    max_replicas: int = Field(default=8, ge=0)
    autoscale: bool = False  # job-size scaling of the swarm worker service (API jobs)
    scale_idle_s: float = Field(default=300.0, ge=0)  # idle time before scaling back down
    stack_name: str = "ocr"
    api_port: int = Field(default=8000, gt=0, lt=65536)  # published API port (health)
    # Read by the autoscaler's node provider on the head, to start workers like the stack's.
    head_host: str = "ray-head"
    input_dir: str = ""  # host folder mounted read-only as /data/inputs on workers
    worker_network: str = ""  # empty: <stack_name>_ocr
    loopback_prefix: str = ""  # host network only: "127.0.2" gives workers 127.0.2.N

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to SQLite under ``home``."""
        return self.store_url or f"sqlite:///{self.home / 'jobs.db'}"

    @property
    def resolved_tessdata(self) -> str:
        """The tessdata folder Tesseract should read its language models from."""
        import os

        return self.tessdata_prefix or os.environ.get("TESSDATA_PREFIX") or DEBIAN_TESSDATA

    @property
    def resolved_output_root(self) -> Path:
        """Where the API writes job exports."""
        return Path(self.output_root) if self.output_root else self.home / "outputs"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
