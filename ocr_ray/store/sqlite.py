"""SQLite store (WAL mode): the embedded default, written by one coordinator."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence

from ocr_ray.exceptions import RunningJobLimitError
from ocr_ray.models import CallbackState, FileRecord, FileStatus, JobStatus
from ocr_ray.params import JobParams
from ocr_ray.store.base import (
    JobRow,
    LivePages,
    dump_record,
    key_path,
    live_status,
    load_record,
    path_key,
    record_counts,
)
from ocr_ray.store.sqlite_file import SqliteFile, Transaction, add_missing_columns

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    total INTEGER NOT NULL DEFAULT 0,
    expected_total INTEGER,
    scan_complete INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    characters INTEGER NOT NULL DEFAULT 0,
    review_pages INTEGER NOT NULL DEFAULT 0,
    low_confidence_pages INTEGER NOT NULL DEFAULT 0,
    blank_pages INTEGER NOT NULL DEFAULT 0,
    confidence_sum REAL NOT NULL DEFAULT 0,
    confidence_count INTEGER NOT NULL DEFAULT 0,
    done_at_start INTEGER NOT NULL DEFAULT 0,
    elapsed_prior_s REAL NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    lease_until REAL,
    user TEXT,
    cpus REAL,
    callback TEXT,
    cancelled_files INTEGER NOT NULL DEFAULT 0,
    pages_at_start INTEGER NOT NULL DEFAULT 0,
    pages_reading INTEGER NOT NULL DEFAULT 0,
    pages_queued INTEGER NOT NULL DEFAULT 0,
    files_queued INTEGER NOT NULL DEFAULT 0,
    source_text_layer_pages INTEGER NOT NULL DEFAULT 0,
    source_blank_pages INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS files (
    job_id TEXT NOT NULL,
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    sha256 TEXT,
    error_code TEXT,
    record TEXT,
    PRIMARY KEY (job_id, path)
);
CREATE INDEX IF NOT EXISTS files_by_seq ON files (job_id, seq);
CREATE INDEX IF NOT EXISTS files_by_sha ON files (job_id, sha256);
-- Only the files still to do: it shrinks as they finish, and no other query can use it.
CREATE INDEX IF NOT EXISTS files_pending ON files (job_id) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, record TEXT NOT NULL, created_at REAL);
"""
# Columns added after the first release, with their definitions, for older stores.
_ADDED_COLUMNS = {
    "lease_until": "REAL",
    "review_pages": "INTEGER NOT NULL DEFAULT 0",
    "low_confidence_pages": "INTEGER NOT NULL DEFAULT 0",
    "blank_pages": "INTEGER NOT NULL DEFAULT 0",
    "user": "TEXT",
    "cpus": "REAL",
    "callback": "TEXT",
    "cancelled_files": "INTEGER NOT NULL DEFAULT 0",
    "pages_at_start": "INTEGER NOT NULL DEFAULT 0",
    "pages_reading": "INTEGER NOT NULL DEFAULT 0",
    "pages_queued": "INTEGER NOT NULL DEFAULT 0",
    "files_queued": "INTEGER NOT NULL DEFAULT 0",
    "source_text_layer_pages": "INTEGER NOT NULL DEFAULT 0",
    "source_blank_pages": "INTEGER NOT NULL DEFAULT 0",
}
_NOTHING_LIVE = "pages_reading = 0, pages_queued = 0, files_queued = 0"
# Indexes on added columns, made once the migration has added them.
_LATE_INDEXES = "CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, created_at);"
_LIVE = tuple(s.value for s in (JobStatus.queued, JobStatus.running, JobStatus.cancelling))
_DONE = tuple(s.value for s in (FileStatus.succeeded, FileStatus.failed, FileStatus.skipped))


class SqliteStore:
    """Job store backed by one SQLite file; safe for one writer plus many readers."""

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self.path = file.path
        self._db().executescript(_SCHEMA)
        add_missing_columns(self._db(), "jobs", _ADDED_COLUMNS)
        self._db().executescript(_LATE_INDEXES)

    def _db(self) -> sqlite3.Connection:
        return self.file.db()

    def _tx(self) -> Transaction:
        return self.file.tx()

    # Jobs -----------------------------------------------------------------
    def create_job(
        self, *, job_id: str, params: JobParams, user: str | None = None, max_running: int = 0
    ) -> None:
        now = time.time()
        with self._tx() as db:
            if user is not None and max_running:
                _check_running(db, user, max_running)
            db.execute(
                "INSERT INTO jobs (id, params, status, created_at, user) VALUES (?, ?, ?, ?, ?)",
                (job_id, params.model_dump_json(), JobStatus.queued.value, now, user),
            )

    def get_job(self, job_id: str) -> JobRow | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_row(row) if row else None

    def list_jobs(
        self, *, limit: int = 50, offset: int = 0, user: str | None = None
    ) -> list[JobRow]:
        mine, args = _of_user(user)
        rows = self._db().execute(
            f"SELECT * FROM jobs WHERE {mine} ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [_job_row(row) for row in rows]

    def count_jobs(self, *, user: str | None = None) -> int:
        mine, args = _of_user(user)
        return int(
            self._db().execute(f"SELECT COUNT(*) FROM jobs WHERE {mine}", args).fetchone()[0]
        )

    def count_running(self, *, user: str) -> int:
        return _running(self._db(), user)

    def start_run(self, *, job_id: str, lease_s: float) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, finished_at = NULL, error = NULL,"
                " done_at_start = succeeded + failed + skipped, pages_at_start = pages,"
                f" {_NOTHING_LIVE}, lease_until = ?,"
                # A cancel that ended the last run is spent; one still pending (its
                # coordinator died first) is honoured by this run.
                " cancel_requested = CASE WHEN status = ? THEN 0 ELSE cancel_requested END"
                " WHERE id = ?",
                (JobStatus.running.value, now, now + lease_s, JobStatus.cancelled.value, job_id),
            )

    def renew_lease(self, *, job_id: str, lease_s: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ?", (time.time() + lease_s, job_id)
            )

    def finish_run(
        self,
        *,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        cpus: float | None = None,
    ) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                f"UPDATE jobs SET status = ?, finished_at = ?, error = ?, {_NOTHING_LIVE},"
                " elapsed_prior_s = elapsed_prior_s + (? - COALESCE(started_at, ?)),"
                " cpus = MAX(COALESCE(cpus, 0), COALESCE(?, 0))"
                " WHERE id = ?",
                (status.value, now, error, now, now, cpus, job_id),
            )

    def set_scan_total(self, *, job_id: str, total: int, complete: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET expected_total = ?, scan_complete = ? WHERE id = ?",
                (total, int(complete), job_id),
            )

    def request_cancel(self, *, job_id: str) -> bool:
        finished = tuple(s.value for s in JobStatus if s.finished)
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status NOT IN "
                f"({','.join('?' * len(finished))})",
                (job_id, *finished),
            )
            return cursor.rowcount == 1

    def cancel_requested(self, *, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        found = row.fetchone()
        return bool(found and found[0])

    # Files ----------------------------------------------------------------
    def add_files(
        self, *, job_id: str, items: list[tuple[int, str]], final: Sequence[FileRecord] = ()
    ) -> int:
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO files (job_id, path, seq, status) VALUES (?, ?, ?, ?)",
                [(job_id, path_key(path), seq, FileStatus.pending.value) for seq, path in items],
            )
            added = db.total_changes - before
            db.execute("UPDATE jobs SET total = total + ? WHERE id = ?", (added, job_id))
            _complete(db, job_id, final)
            return added

    def pending_files(self, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        # The literal 'pending' lets SQLite use the partial index.
        rows = self._db().execute(
            "SELECT rowid, path FROM files WHERE job_id = ? AND status = 'pending'"
            " AND rowid > ? ORDER BY rowid LIMIT ?",
            (job_id, after, limit),
        )
        return [(int(row[0]), key_path(str(row[1]))) for row in rows]

    def complete_files(
        self, *, job_id: str, records: Sequence[FileRecord], live: LivePages | None = None
    ) -> int:
        with self._tx() as db:
            newly = _complete(db, job_id, records)
            if live is not None:
                db.execute(
                    "UPDATE jobs SET pages_reading = ?, pages_queued = ?, files_queued = ?"
                    " WHERE id = ?",
                    (live.reading, live.queued, live.files, job_id),
                )
            return newly

    def find_by_sha(self, *, job_id: str, sha256: str) -> FileRecord | None:
        row = (
            self._db()
            .execute(
                "SELECT record FROM files WHERE job_id = ? AND sha256 = ? AND status = ? LIMIT 1",
                (job_id, sha256, FileStatus.succeeded.value),
            )
            .fetchone()
        )
        return load_record(row[0]) if row else None

    def iter_records(
        self, *, job_id: str, status: FileStatus | None = None
    ) -> Iterator[FileRecord]:
        statuses = (status.value,) if status else _DONE
        marks = ",".join("?" * len(statuses))
        # A separate connection, so a long export never blocks the writer's cursor.
        db = sqlite3.connect(self.path, timeout=60)
        try:
            rows = db.execute(
                f"SELECT record FROM files WHERE job_id = ? AND status IN ({marks}) ORDER BY seq",
                (job_id, *statuses),
            )
            for (raw,) in rows:
                yield load_record(raw)
        finally:
            db.close()

    def failures_by_code(self, *, job_id: str) -> dict[str, int]:
        rows = self._db().execute(
            "SELECT error_code, COUNT(*) FROM files WHERE job_id = ? AND status = ?"
            " GROUP BY error_code ORDER BY error_code",
            (job_id, FileStatus.failed.value),
        )
        return {str(code): int(count) for code, count in rows}

    # Cross-job cache --------------------------------------------------------
    def cache_get(self, *, key: str) -> FileRecord | None:
        row = self._db().execute("SELECT record FROM cache WHERE key = ?", (key,)).fetchone()
        return load_record(row[0]) if row else None

    def set_callback(self, *, job_id: str, state: CallbackState) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET callback = ? WHERE id = ?", (state.model_dump_json(), job_id)
            )

    def cache_put(self, *, key: str, record: FileRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (key, record, created_at) VALUES (?, ?, ?)",
                (key, dump_record(record), time.time()),
            )


def _complete(db: sqlite3.Connection, job_id: str, records: Sequence[FileRecord]) -> int:
    """Store final records in the open transaction; a file already final is not counted
    again. Returns how many were newly final."""
    newly = []
    for record in records:
        cursor = db.execute(
            "UPDATE files SET status = ?, sha256 = ?, error_code = ?, record = ?"
            " WHERE job_id = ? AND path = ? AND status = ?",
            (
                record.status.value,
                record.sha256,
                record.error.code if record.error else None,
                dump_record(record),
                job_id,
                path_key(record.source_path),
                FileStatus.pending.value,
            ),
        )
        if cursor.rowcount == 1:  # else already final: a retry or duplicate delivery
            newly.append(record)
    counts = record_counts(newly)
    increments = ", ".join(f"{name} = {name} + ?" for name in counts)
    db.execute(f"UPDATE jobs SET {increments} WHERE id = ?", (*counts.values(), job_id))
    return len(newly)


def _of_user(user: str | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE condition for one user's jobs, or for all when ``user`` is None."""
    return ("user = ?", (user,)) if user is not None else ("1", ())


def _running(db: sqlite3.Connection, user: str) -> int:
    marks = ",".join("?" * len(_LIVE))
    return int(
        db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE user = ? AND status IN ({marks})"
            " AND (lease_until IS NULL OR lease_until >= ?)",
            (user, *_LIVE, time.time()),
        ).fetchone()[0]
    )


def _check_running(db: sqlite3.Connection, user: str, limit: int) -> None:
    """Raise if ``user`` has ``limit`` jobs queued or running."""
    if _running(db, user) >= limit:
        raise RunningJobLimitError(user, limit)


def _job_row(row: sqlite3.Row) -> JobRow:
    data = dict(row)
    data.pop("cancel_requested")
    data["params"] = JobParams.model_validate(json.loads(data["params"]))
    data["status"] = live_status(JobStatus(data["status"]), data["lease_until"])
    data["scan_complete"] = bool(data["scan_complete"])
    callback = data.pop("callback", None)
    data["callback"] = CallbackState.model_validate_json(callback) if callback else None
    return JobRow(**data)
