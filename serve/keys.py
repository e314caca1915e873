"""API users: their keys (stored hashed) and who a request's key belongs to."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from ocr_ray.exceptions import UsageError
from ocr_ray.store import UserStore

BOOTSTRAP_USER = "admin"  # whoever holds OCR_RAY_API_TOKEN[_FILE]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """The user a request acts for."""

    user: str
    admin: bool
    max_running: int | None = None  # running-job limit of this user; None: the default


def hash_key(key: str) -> str:
    """The stored form of a key. Keys are 256 random bits, so a plain SHA-256 is enough:
    there is nothing to brute-force that a slow hash would protect."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just made, and the secret that signs its user's webhooks: shown once."""

    key: str
    webhook_secret: str


def create_key(
    store: UserStore, name: str, *, admin: bool, max_running: int | None = None
) -> NewKey:
    """Make and store a key for ``name`` (the key itself is never stored, only its
    hash) with a new webhook secret."""
    if not _NAME.match(name) or name == BOOTSTRAP_USER:
        raise UsageError(
            f"{name!r} is not a usable key name: 1-64 letters, digits, '_.@-', not "
            f"{BOOTSTRAP_USER!r} (the bootstrap key's user)"
        )
    key, secret = "ocr_" + secrets.token_urlsafe(32), "whsec_" + secrets.token_urlsafe(32)
    store.add_key(
        name=name,
        key_hash=hash_key(key),
        admin=admin,
        max_running=max_running,
        webhook_secret=secret,
    )
    return NewKey(key, secret)


def identify(given: str, bootstrap: str, store: UserStore) -> Principal | None:
    """Whose key ``given`` is: the bootstrap admin's, a live stored key's, or nobody's.

    Stored keys are looked up by hash, so the lookup's timing depends on the hash alone,
    which says nothing about any key; the hashes and the bootstrap key are compared in
    constant time. A revoked key is not found, on the very next request.
    """
    digest = hash_key(given)
    found = store.find_key(key_hash=digest)
    if secrets.compare_digest(given.encode(), bootstrap.encode()):
        return Principal(BOOTSTRAP_USER, admin=True)
    if found is not None and secrets.compare_digest(found.key_hash, digest):
        return Principal(found.name, admin=found.admin, max_running=found.max_running)
    return None
