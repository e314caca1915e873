"""Job stores: SQLite embedded by default."""

from __future__ import annotations

from ocr_ray.exceptions import UsageError
from ocr_ray.settings import get_settings
from ocr_ray.store.base import ApiKey, AuditEntry, JobRow, Store

__all__ = ["ApiKey", "AuditEntry", "JobRow", "Store", "open_store"]


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url`` (default: ``OCR_RAY_STORE_URL`` or SQLite under home)."""
    url = url or get_settings().resolved_store_url
    if url.startswith("sqlite:///"):
        from ocr_ray.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    raise UsageError(f"unsupported store URL {url!r}; use sqlite:///PATH")
