"""Stores: job state, and the API's users, each behind a protocol; SQLite embedded by
default (both in one file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocr_ray.exceptions import UsageError
from ocr_ray.settings import get_settings
from ocr_ray.store.base import (
    ApiKey,
    AuditEntry,
    JobRow,
    JobStore,
    LivePages,
    RequestClaim,
    UserStore,
)

if TYPE_CHECKING:
    from ocr_ray.store.sqlite_file import SqliteFile

__all__ = [
    "ApiKey",
    "AuditEntry",
    "JobRow",
    "JobStore",
    "LivePages",
    "RequestClaim",
    "UserStore",
    "open_store",
    "open_user_store",
]


def open_store(url: str | None = None) -> JobStore:
    """The job store at ``url`` (default: ``OCR_RAY_STORE_URL`` or SQLite under home)."""
    from ocr_ray.store.sqlite import SqliteStore

    return SqliteStore(_sqlite_file(url))


def open_user_store(url: str | None = None) -> UserStore:
    """The user store beside the job store at ``url`` (same default)."""
    from ocr_ray.store.sqlite_users import SqliteUsers

    return SqliteUsers(_sqlite_file(url))


def _sqlite_file(url: str | None) -> SqliteFile:
    url = url or get_settings().resolved_store_url
    if url.startswith("sqlite:///"):
        from ocr_ray.store.sqlite_file import SqliteFile

        return SqliteFile(url.removeprefix("sqlite:///"))
    raise UsageError(f"unsupported store URL {url!r}; use sqlite:///PATH")
