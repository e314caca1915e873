"""The SQLite user store: API users' hashed keys and the audit trail."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from ocr_ray.exceptions import UsageError
from ocr_ray.store.base import ApiKey, AuditEntry, AuthState, RequestClaim
from ocr_ray.store.sqlite_file import SqliteFile, Transaction, add_missing_columns

USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    max_running INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_key_per_name ON api_keys (name)
    WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    job_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    client TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE TABLE IF NOT EXISTS auth_clients (
    client TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure REAL NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    last_success REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS idempotency (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    job_id TEXT NOT NULL,
    started INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    PRIMARY KEY (user, key)
);
"""
# Columns added after the first release, with their definitions, for older stores.
_ADDED_KEY_COLUMNS = {"webhook_secret": "TEXT"}
_KEY_COLUMNS = "name, admin, created_at, revoked_at, key_hash, max_running"


class SqliteUsers:
    """User store (hashed keys and the audit trail) in the job store's SQLite file."""

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self._db().executescript(USERS_SCHEMA)
        add_missing_columns(self._db(), "api_keys", _ADDED_KEY_COLUMNS)

    def _db(self) -> sqlite3.Connection:
        return self.file.db()

    def _tx(self) -> Transaction:
        return self.file.tx()

    def add_key(
        self,
        *,
        name: str,
        key_hash: str,
        admin: bool,
        max_running: int | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO api_keys"
                    " (name, key_hash, admin, created_at, max_running, webhook_secret)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, key_hash, int(admin), time.time(), max_running, webhook_secret),
                )
        except sqlite3.IntegrityError as exc:
            raise UsageError(f"{name!r} already has a key; revoke it first") from exc

    def find_key(self, *, key_hash: str) -> ApiKey | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            )
            .fetchone()
        )
        return _key(row) if row else None

    def webhook_secret(self, *, name: str) -> str | None:
        row = (
            self._db()
            .execute(
                "SELECT webhook_secret FROM api_keys WHERE name = ? AND revoked_at IS NULL",
                (name,),
            )
            .fetchone()
        )
        return row["webhook_secret"] if row else None

    def claim_request(
        self, *, user: str, key: str, digest: str, job_id: str, ttl_s: float
    ) -> RequestClaim | None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "DELETE FROM idempotency WHERE user = ? AND key = ? AND created_at < ?",
                (user, key, now - ttl_s),
            )
            held = db.execute(
                "SELECT digest, job_id, started FROM idempotency WHERE user = ? AND key = ?",
                (user, key),
            ).fetchone()
            if held is not None:
                return RequestClaim(held["digest"], held["job_id"], bool(held["started"]))
            db.execute(
                "INSERT INTO idempotency (user, key, digest, job_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (user, key, digest, job_id, now),
            )
            return None

    def settle_request(self, *, user: str, key: str, started: bool) -> None:
        with self._tx() as db:
            if started:
                db.execute(
                    "UPDATE idempotency SET started = 1 WHERE user = ? AND key = ?", (user, key)
                )
            else:
                db.execute("DELETE FROM idempotency WHERE user = ? AND key = ?", (user, key))

    def list_keys(self) -> list[ApiKey]:
        rows = self._db().execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        return [_key(row) for row in rows]

    def revoke_key(self, *, name: str) -> bool:
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (time.time(), name),
            )
            return cursor.rowcount == 1

    def auth_states(self, *, clients: Sequence[str]) -> dict[str, AuthState]:
        marks = ",".join("?" * len(clients))
        rows = self._db().execute(
            "SELECT client, failures, last_failure, locked_until, last_success"
            f" FROM auth_clients WHERE client IN ({marks})",
            tuple(clients),
        )
        return {row["client"]: AuthState(*tuple(row)[1:]) for row in rows}

    def count_auth_failure(self, *, client: str, now: float, forget_s: float) -> int:
        with self._tx() as db:
            row = db.execute(
                "INSERT INTO auth_clients (client, failures, last_failure) VALUES (?, 1, ?)"
                " ON CONFLICT (client) DO UPDATE SET last_failure = excluded.last_failure,"
                " failures = CASE WHEN ? - last_failure > ? THEN 1 ELSE failures + 1 END"
                " RETURNING failures",
                (client, now, now, forget_s),
            ).fetchone()
            return int(row[0])

    def lock_out(self, *, client: str, until: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE auth_clients SET locked_until = ? WHERE client = ?", (until, client))

    def note_auth_success(self, *, client: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO auth_clients (client, last_success) VALUES (?, ?)"
                " ON CONFLICT (client) DO UPDATE SET last_success = excluded.last_success",
                (client, now),
            )

    def forget_auth(self, *, before: float) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM auth_clients WHERE last_failure < ? AND last_success < ?"
                " AND locked_until < ?",
                (before, before, before),
            )

    def add_audit(self, entry: AuditEntry) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (at, user, action, job_id, detail, client)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry.at, entry.user, entry.action, entry.job_id, entry.detail, entry.client),
            )

    def list_audit(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        user: str | None = None,
        job_id: str | None = None,
    ) -> list[AuditEntry]:
        where = {"user = ?": user, "job_id = ?": job_id}
        chosen = {clause: value for clause, value in where.items() if value is not None}
        condition = " AND ".join(chosen) or "1"
        rows = self._db().execute(
            f"SELECT at, user, action, job_id, detail, client FROM audit WHERE {condition}"
            " ORDER BY at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*chosen.values(), limit, offset),
        )
        return [AuditEntry(**dict(row)) for row in rows]


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        name=row["name"],
        admin=bool(row["admin"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        key_hash=row["key_hash"],
        max_running=row["max_running"],
    )
