"""The API's settings, read from ``OCR_RAY_*`` environment variables like the library's
(``ocr_ray.settings``), which holds what the API shares with it: home and the store."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ocr_ray.exceptions import UsageError
from ocr_ray.settings import get_settings
from serve.webhooks.allowlist import parse_hosts


class ServeSettings(BaseSettings):
    """Configuration of ``ocr-ray serve``: keys, input roots, uploads and limits."""

    model_config = SettingsConfigDict(env_prefix="OCR_RAY_", extra="ignore")

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
    # Requests one API replica works on at once, and how many replicas run: Serve's
    # default of 5 queued a few dozen pollers into seconds of latency (README: API load).
    api_max_ongoing_requests: int = Field(default=100, ge=1)
    api_replicas: int = Field(default=1, ge=1)
    # Serve's HAProxy ingress and throughput mode: 5 to 10 times the requests/s of its
    # Python proxy (measured), but the API then sees every client as HAProxy's address,
    # so the audit trail loses addresses and wrong-key lockouts lose theirs. Off by default.
    api_haproxy: bool = False
    autoscale: bool = False  # job-size scaling of the swarm worker service (API jobs)
    swarm: bool = False  # the API runs on a Docker swarm (docker-stack.ray.yml sets it)
    # Hosts completion webhooks may be sent to: "name", "address", either with ":port",
    # comma-separated. Empty: no job may ask for a callback.
    callback_hosts: str = ""
    # The results viewer's page images: the widest it renders, and what its cache of
    # renders may hold (the least recently shown go first).
    viewer_max_width: int = Field(default=2000, ge=100, le=8000)
    viewer_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    callback_timeout_s: float = Field(default=10.0, gt=0)  # one delivery attempt
    callback_first_retry_s: float = Field(default=5.0, gt=0)  # doubled after each failure
    callback_retry_for_s: float = Field(default=3600.0, ge=0)  # then the delivery gives up
    idempotency_ttl_s: float = Field(default=24 * 3600.0, gt=0)  # Idempotency-Key lifetime

    @field_validator("callback_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        try:
            parse_hosts(value)
        except UsageError as exc:  # refused at start, with the variable's name
            raise ValueError(str(exc)) from exc
        return value

    @property
    def home(self) -> Path:
        """The library's home (``OCR_RAY_HOME``), where uploads and outputs live."""
        return get_settings().home

    @property
    def resolved_store_url(self) -> str:
        """The store the library uses."""
        return get_settings().resolved_store_url

    @property
    def resolved_output_root(self) -> Path:
        """Where the API writes job exports."""
        return Path(self.output_root) if self.output_root else self.home / "outputs"


@functools.lru_cache(maxsize=1)
def get_serve_settings() -> ServeSettings:
    """The API's settings, read once from the environment."""
    return ServeSettings()
