"""The MongoDB user store: API users' hashed keys, idempotency claims and the audit
trail, in the job store's database."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ocr_ray.exceptions import UsageError
from ocr_ray.store.base import ApiKey, AuditEntry, AuthState, RequestClaim
from ocr_ray.store.mongo_db import MongoDb, guarded

_KEY_FIELDS = ("name", "admin", "created_at", "revoked_at", "key_hash", "max_running")
_AUDIT_FIELDS = ("at", "user", "action", "job_id", "detail", "client")
_AUTH_FIELDS = ("failures", "last_failure", "locked_until", "last_success")


def _indexes() -> dict[str, list[Any]]:
    from pymongo import ASCENDING as UP
    from pymongo import DESCENDING as DOWN
    from pymongo import IndexModel

    return {
        "api_keys": [
            IndexModel([("key_hash", UP)], unique=True),
            # One live key per name; revoked ones stay for the record.
            IndexModel([("name", UP)], unique=True, partialFilterExpression={"revoked_at": None}),
        ],
        "audit": [IndexModel([("at", DOWN)]), IndexModel([("user", UP), ("at", DOWN)])],
        "idempotency": [],  # keyed by _id: the user and the key
        "auth_clients": [],  # the throttle's state, keyed by _id: the client
    }


def _claim_id(user: str, key: str) -> str:
    return f"{len(user)}:{user}:{key}"


@guarded
class MongoUsers:
    """User store in a MongoDB database, shared by every API replica."""

    def __init__(self, mongo: MongoDb) -> None:
        self.mongo = mongo
        mongo.collections(_indexes())
        db = mongo.db
        self._keys, self._audit, self._claims = db.api_keys, db.audit, db.idempotency
        self._clients = db.auth_clients

    def add_key(
        self,
        *,
        name: str,
        key_hash: str,
        admin: bool,
        max_running: int | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        from pymongo.errors import DuplicateKeyError

        key = {"name": name, "key_hash": key_hash, "admin": admin, "created_at": time.time()}
        key.update(revoked_at=None, max_running=max_running, webhook_secret=webhook_secret)
        try:
            self._keys.insert_one(key)
        except DuplicateKeyError as exc:
            raise UsageError(f"{name!r} already has a key; revoke it first") from exc

    def find_key(self, *, key_hash: str) -> ApiKey | None:
        doc = self._keys.find_one({"key_hash": key_hash, "revoked_at": None})
        return _key(doc) if doc else None

    def webhook_secret(self, *, name: str) -> str | None:
        doc = self._keys.find_one({"name": name, "revoked_at": None}, {"webhook_secret": 1})
        return doc.get("webhook_secret") if doc else None

    def claim_request(
        self, *, user: str, key: str, digest: str, job_id: str, ttl_s: float
    ) -> RequestClaim | None:
        from pymongo import ReturnDocument

        now, claim_id = time.time(), _claim_id(user, key)
        self._claims.delete_one({"_id": claim_id, "created_at": {"$lt": now - ttl_s}})
        fresh = {"digest": digest, "job_id": job_id, "started": False, "created_at": now}
        # One upsert: of two requests at once, one inserts and the other sees its claim.
        held = self._claims.find_one_and_update(
            {"_id": claim_id},
            {"$setOnInsert": fresh},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        if held is None:
            return None
        return RequestClaim(held["digest"], held["job_id"], bool(held["started"]))

    def settle_request(self, *, user: str, key: str, started: bool) -> None:
        claim = {"_id": _claim_id(user, key)}
        if started:
            self._claims.update_one(claim, {"$set": {"started": True}})
        else:
            self._claims.delete_one(claim)

    def list_keys(self) -> list[ApiKey]:
        return [_key(doc) for doc in self._keys.find().sort([("created_at", 1), ("_id", 1)])]

    def revoke_key(self, *, name: str) -> bool:
        revoked = self._keys.update_one(
            {"name": name, "revoked_at": None}, {"$set": {"revoked_at": time.time()}}
        )
        return bool(revoked.modified_count == 1)

    def auth_states(self, *, clients: Sequence[str]) -> dict[str, AuthState]:
        found = self._clients.find({"_id": {"$in": list(clients)}})
        return {doc["_id"]: AuthState(**{f: doc.get(f, 0) for f in _AUTH_FIELDS}) for doc in found}

    def count_auth_failure(self, *, client: str, now: float, forget_s: float) -> int:
        from pymongo import ReturnDocument

        quiet = {"$gt": [{"$subtract": [now, {"$ifNull": ["$last_failure", 0]}]}, forget_s]}
        again = {"$add": [{"$ifNull": ["$failures", 0]}, 1]}
        counted = self._clients.find_one_and_update(
            {"_id": client},
            [{"$set": {"failures": {"$cond": [quiet, 1, again]}, "last_failure": now}}],
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counted["failures"])

    def lock_out(self, *, client: str, until: float) -> None:
        self._clients.update_one({"_id": client}, {"$set": {"locked_until": until}})

    def note_auth_success(self, *, client: str, now: float) -> None:
        self._clients.update_one({"_id": client}, {"$set": {"last_success": now}}, upsert=True)

    def forget_auth(self, *, before: float) -> None:
        quiet = {f: {"$not": {"$gte": before}} for f in ("last_failure", "last_success")}
        self._clients.delete_many({**quiet, "locked_until": {"$not": {"$gte": before}}})

    def add_audit(self, entry: AuditEntry) -> None:
        self._audit.insert_one({name: getattr(entry, name) for name in _AUDIT_FIELDS})

    def list_audit(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        user: str | None = None,
        job_id: str | None = None,
    ) -> list[AuditEntry]:
        where = {"user": user, "job_id": job_id}
        chosen = {field: value for field, value in where.items() if value is not None}
        newest = self._audit.find(chosen).sort([("at", -1), ("_id", -1)]).skip(offset)
        return [AuditEntry(**{f: doc.get(f) for f in _AUDIT_FIELDS}) for doc in newest.limit(limit)]


def _key(doc: dict[str, Any]) -> ApiKey:
    fields: dict[str, Any] = {field: doc.get(field) for field in _KEY_FIELDS}
    return ApiKey(**fields)
