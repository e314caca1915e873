"""One MongoDB database (pymongo) shared by the job store and the user store in it: its
URL checked before anything is touched, one client per process, outages named."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ocr_ray.exceptions import StoreUnavailableError, UsageError

DEFAULT_DATABASE = "ocr_ray"
# How long a call waits for a server to answer before the store says it is unavailable,
# unless the URL sets serverSelectionTimeoutMS.
SELECT_TIMEOUT_MS = 5000
T = TypeVar("T")
Cls = TypeVar("Cls", bound=type)


def redacted(url: str) -> str:
    """``url`` with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def check_url(url: str) -> None:
    """Refuse a ``mongodb://`` URL pymongo would not take, naming the option at fault."""
    from pymongo import common, uri_parser
    from pymongo.errors import ConfigurationError, InvalidURI

    shown = redacted(url)
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        try:
            common.validate(name, value)
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise UsageError(f"store URL {shown}: option {name}={value!r}: {exc}") from None
    try:
        uri_parser.parse_uri(url, warn=False)
    except (ConfigurationError, InvalidURI, ValueError) as exc:
        raise UsageError(f"store URL {shown}: {exc}") from None


class MongoDb:
    """The database a ``mongodb://`` URL names (default ``ocr_ray``), with majority
    writes and retryable writes unless the URL says otherwise."""

    def __init__(self, url: str) -> None:
        from pymongo import MongoClient

        check_url(url)
        self.shown = redacted(url)
        given = {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}
        defaults: dict[str, Any] = {"w": "majority", "retryWrites": True}
        defaults["serverSelectionTimeoutMS"] = SELECT_TIMEOUT_MS
        chosen = {k: v for k, v in defaults.items() if k.lower() not in given}
        self.client: Any = MongoClient(url, appname="ocr_ray", **chosen)
        self.db: Any = self.client.get_default_database(DEFAULT_DATABASE)
        self._ready: set[str] = set()  # collections made, with their indexes
        self._reachable()

    def _reachable(self) -> None:
        from pymongo.errors import PyMongoError

        try:
            self.client.admin.command("ping")
        except PyMongoError as exc:
            raise UsageError(
                f"the job store at {self.shown} cannot be reached: {short(exc)}"
            ) from None

    def collections(self, indexes: dict[str, list[Any]]) -> None:
        """Create each collection and its indexes (``IndexModel``s) if missing: before
        any write, since concurrent first upserts into a new collection can race."""
        wanted = {name: models for name, models in indexes.items() if name not in self._ready}
        if not wanted:
            return  # this process made them already: a store is opened often
        present = set(self.db.list_collection_names())
        for name, models in wanted.items():
            if name not in present:
                self.db.create_collection(name, check_exists=False)
            if models:
                self.db[name].create_indexes(models)
            self._ready.add(name)

    def transaction(self, work: Callable[[Any], T]) -> T:
        """``work(session)`` in one transaction, retried as the driver advises."""
        from pymongo import WriteConcern

        with self.client.start_session() as session:
            return session.with_transaction(work, write_concern=WriteConcern("majority"))


@functools.lru_cache(maxsize=8)
def mongo_db(url: str) -> MongoDb:
    """The process's one client for ``url`` (a client pools its own connections)."""
    return MongoDb(url)


def guarded(cls: Cls) -> Cls:
    """Make every public method of ``cls`` raise ``StoreUnavailableError`` when the
    server does not answer, instead of pymongo's connection errors."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        wrap = _guard_generator if inspect.isgeneratorfunction(method) else _guard
        setattr(cls, name, functools.wraps(method)(wrap(method)))
    return cls


def short(exc: Exception) -> str:
    """pymongo's reason without its topology description, which says it again."""
    return str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0]


def _unavailable(store: Any, exc: Exception) -> StoreUnavailableError:
    shown = store.mongo.shown
    return StoreUnavailableError(f"the job store at {shown} did not answer: {short(exc)}")


def _guard(method: Callable[..., T]) -> Callable[..., T]:
    from pymongo.errors import ConnectionFailure

    def call(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except ConnectionFailure as exc:
            raise _unavailable(self, exc) from exc

    return call


def _guard_generator(method: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    from pymongo.errors import ConnectionFailure

    def call(self: Any, *args: Any, **kwargs: Any) -> Iterator[T]:
        try:
            yield from method(self, *args, **kwargs)
        except ConnectionFailure as exc:
            raise _unavailable(self, exc) from exc

    return call
