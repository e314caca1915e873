"""Every operator setting in one place, read from ``OCR_RAY_*`` environment variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEBIAN_TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
# Bounds shared by a setting and the job parameter whose default it is.
Dpi = Annotated[int, Field(ge=50, le=1200)]
Pixels = Annotated[int, Field(gt=0)]
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Configuration of the library and the CLI (the API's and the cluster tools' own
    are ``serve.settings`` and ``cluster.settings``).

    Each field is read from the environment variable ``OCR_RAY_<NAME>``; units are
    part of the name (``_S`` seconds, ``_BYTES`` bytes).
    """

    model_config = SettingsConfigDict(env_prefix="OCR_RAY_", extra="ignore")

    # Where state lives.
    home: Path = Field(default_factory=lambda: Path.home() / ".ocr_ray")
    # empty: sqlite:///<home>/jobs.db; mongodb://... for a store shared by a cluster.
    store_url: str = ""
    # A running job waits this long for a store that stopped answering (holding its
    # results) before it fails; a reader (status, the API) is told at once.
    store_outage_s: float = Field(default=900.0, ge=0)

    # OCR defaults.
    tessdata_prefix: str = ""  # empty: $TESSDATA_PREFIX, then Debian's tessdata
    dpi: Dpi = 300
    max_image_pixels: Pixels = 150_000_000
    timeout_per_file_s: Seconds = 600.0
    pages_per_task: int = Field(default=4, ge=1)
    # Small files are packed into one task up to this many pixels (about one A4 page
    # at 300 dpi) and this many files, so a Ray task's fixed cost is shared.
    task_pixels: int = Field(default=8_000_000, ge=1)
    max_files_per_task: int = Field(default=64, ge=1)
    probe_batch: int = Field(default=256, ge=1)  # paths per probe task on a worker
    # A page whose mean word confidence (0-100) is below this gets an orientation check;
    # still below after it, its record carries a low_confidence warning.
    low_confidence: float = Field(default=60.0, ge=0, le=100)

    # Execution.
    max_in_flight: int = Field(default=0, ge=0)  # 0: twice the cluster's CPUs
    max_retries: int = Field(default=3, ge=0)
    write_batch_size: int = Field(default=64, ge=1)
    write_interval_s: float = Field(default=1.0, gt=0)
    # A running job renews its lease this often; after 3 missed renewals it shows as
    # interrupted (its coordinator died) and may be resumed.
    heartbeat_s: float = Field(default=10.0, gt=0)
    include_dashboard: bool = False  # for a local Ray; cluster heads always run it
    # A local Ray that a run starts stays up for later runs until it has served no
    # ocr_ray process for this long (seconds); 0: each run stops the Ray it started.
    keep_local_ray_s: float = Field(default=600.0, ge=0)

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


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
