"""Stores: job state, and the API's users, each behind a protocol; SQLite embedded by
default (both in one file), MongoDB shared by a cluster (both in one database)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocr_ray.exceptions import UsageError
from ocr_ray.settings import get_settings
from ocr_ray.store.base import (
    ApiKey,
    AuditEntry,
    AuthState,
    JobRow,
    JobStore,
    LivePages,
    RequestClaim,
    UserStore,
)
from ocr_ray.store.browse import MAX_TERMS, FileQuery, brief_entry, search_terms

if TYPE_CHECKING:
    from ocr_ray.store.sqlite_file import SqliteFile

__all__ = [
    "MAX_TERMS",
    "ApiKey",
    "AuditEntry",
    "AuthState",
    "FileQuery",
    "JobRow",
    "JobStore",
    "LivePages",
    "RequestClaim",
    "UserStore",
    "brief_entry",
    "is_shared",
    "open_store",
    "open_user_store",
    "search_terms",
]


def open_store(url: str | None = None) -> JobStore:
    """The job store at ``url`` (default: ``OCR_RAY_STORE_URL`` or SQLite under home)."""
    url = url or get_settings().resolved_store_url
    if is_shared(url):
        from ocr_ray.store.mongo import MongoStore
        from ocr_ray.store.mongo_db import mongo_db

        return MongoStore(mongo_db(url))
    from ocr_ray.store.sqlite import SqliteStore

    return SqliteStore(_sqlite_file(url))


def open_user_store(url: str | None = None) -> UserStore:
    """The user store beside the job store at ``url`` (same default)."""
    url = url or get_settings().resolved_store_url
    if is_shared(url):
        from ocr_ray.store.mongo_db import mongo_db
        from ocr_ray.store.mongo_users import MongoUsers

        return MongoUsers(mongo_db(url))
    from ocr_ray.store.sqlite_users import SqliteUsers

    return SqliteUsers(_sqlite_file(url))


def is_shared(url: str) -> bool:
    """Whether the store at ``url`` is a server every node reaches (MongoDB), rather
    than a file on one node (SQLite)."""
    return url.startswith(("mongodb://", "mongodb+srv://"))


def _sqlite_file(url: str) -> SqliteFile:
    if url.startswith("sqlite:///"):
        from ocr_ray.store.sqlite_file import SqliteFile

        return SqliteFile(url.removeprefix("sqlite:///"))
    raise UsageError(f"unsupported store URL {url!r}; use sqlite:///PATH or mongodb://HOST/DB")
