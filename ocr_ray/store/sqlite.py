"""SQLite store (WAL mode): the embedded default, written by one coordinator."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence

from ocr_ray.exceptions import RunningJobLimitError
from ocr_ray.models import CallbackState, FileEntry, FileRecord, FileStatus, JobStatus, printable
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
from ocr_ray.store.browse import FileQuery, brief_of, entry_of, matched_pages, needs_review
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
-- The results viewer's: final records' text, searched by FTS5 (a file's rowid is its
-- row here); the text itself stays in the record only (contentless).
CREATE VIRTUAL TABLE IF NOT EXISTS files_text USING fts5(text, content='');
-- Each page's word boxes (ocr_ray.wordboxes), shared by identical files of a job.
CREATE TABLE IF NOT EXISTS words (
    job_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    page INTEGER NOT NULL,
    boxes BLOB NOT NULL,
    PRIMARY KEY (job_id, sha256, page)
) WITHOUT ROWID;
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
_ADDED_FILE_COLUMNS = {"brief": "TEXT", "review": "INTEGER NOT NULL DEFAULT 0"}
_NOTHING_LIVE = "pages_reading = 0, pages_queued = 0, files_queued = 0"
# Indexes on added columns, made once the migration has added them.
# Each index of files ends in its rowid, the viewer's order and cursor.
_LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, created_at);
CREATE INDEX IF NOT EXISTS files_by_job ON files (job_id);
CREATE INDEX IF NOT EXISTS files_by_status ON files (job_id, status);
CREATE INDEX IF NOT EXISTS files_to_review ON files (job_id) WHERE review = 1;
"""
_LIVE = tuple(s.value for s in (JobStatus.queued, JobStatus.running, JobStatus.cancelling))
_DONE = tuple(s.value for s in (FileStatus.succeeded, FileStatus.failed, FileStatus.skipped))


class SqliteStore:
    """Job store backed by one SQLite file; safe for one writer plus many readers."""

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self.path = file.path
        self._db().executescript(_SCHEMA)
        add_missing_columns(self._db(), "jobs", _ADDED_COLUMNS)
        add_missing_columns(self._db(), "files", _ADDED_FILE_COLUMNS)
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

    # The results viewer ---------------------------------------------------
    def list_files(self, *, job_id: str, query: FileQuery) -> list[FileEntry]:
        where, args = ["f.job_id = ?"], [job_id]
        if query.status:
            where.append("f.status = ?")
            args.append(query.status.value)
        if query.review:
            where.append("f.review = 1")
        if query.terms:
            return self._search(job_id, query, where, args)
        rows = self._db().execute(
            f"SELECT f.rowid, f.path, f.status, f.brief FROM files f WHERE {' AND '.join(where)}"
            " AND f.rowid > ? ORDER BY f.rowid LIMIT ?",
            (*args, query.after, query.limit),
        )
        return [entry_of(row[0], printable(key_path(row[1])), row[2], row[3]) for row in rows]

    def _search(
        self, job_id: str, query: FileQuery, where: list[str], args: list[str]
    ) -> list[FileEntry]:
        """Files whose text holds every term, by the FTS5 index, which is read in
        rowid order from the job's first row, so a page stops after ``limit`` hits."""
        first, last = self._row_span(job_id)
        rows = self._db().execute(
            "SELECT f.rowid, f.path, f.status, f.brief, f.record FROM files_text t"
            " JOIN files f ON f.rowid = t.rowid"
            f" WHERE files_text MATCH ? AND t.rowid > ? AND t.rowid <= ? AND {' AND '.join(where)}"
            " ORDER BY t.rowid LIMIT ?",
            (_fts_query(query.terms), max(query.after, first - 1), last, *args, query.limit),
        )
        found = []
        for row in rows:
            entry = entry_of(row[0], printable(key_path(row[1])), row[2], row[3])
            entry.matched_pages = matched_pages(load_record(row[4]), query.terms)
            found.append(entry)
        return found

    def _row_span(self, job_id: str) -> tuple[int, int]:
        """The job's first and last file rows (two reads of the files_by_job index)."""
        db, span = self._db(), []
        for order in ("ASC", "DESC"):
            row = db.execute(
                f"SELECT rowid FROM files WHERE job_id = ? ORDER BY rowid {order} LIMIT 1",
                (job_id,),
            ).fetchone()
            span.append(int(row[0]) if row else 0)
        return span[0], span[1]

    def get_file(self, *, job_id: str, file_id: int) -> FileRecord | None:
        row = (
            self._db()
            .execute(
                "SELECT record FROM files WHERE rowid = ? AND job_id = ? AND record IS NOT NULL",
                (file_id, job_id),
            )
            .fetchone()
        )
        return load_record(row[0]) if row else None

    def page_words(self, *, job_id: str, sha256: str, page: int) -> bytes | None:
        row = (
            self._db()
            .execute(
                "SELECT boxes FROM words WHERE job_id = ? AND sha256 = ? AND page = ?",
                (job_id, sha256, page),
            )
            .fetchone()
        )
        return bytes(row[0]) if row else None

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
        row = db.execute(
            "UPDATE files SET status = ?, sha256 = ?, error_code = ?, record = ?, brief = ?,"
            " review = ? WHERE job_id = ? AND path = ? AND status = ? RETURNING rowid",
            (
                record.status.value,
                record.sha256,
                record.error.code if record.error else None,
                dump_record(record),
                brief_of(record),
                int(needs_review(record)),
                job_id,
                path_key(record.source_path),
                FileStatus.pending.value,
            ),
        ).fetchone()
        if row is not None:  # else already final: a retry or duplicate delivery
            newly.append(record)
            _index_text(db, job_id, int(row[0]), record)
    counts = record_counts(newly)
    increments = ", ".join(f"{name} = {name} + ?" for name in counts)
    db.execute(f"UPDATE jobs SET {increments} WHERE id = ?", (*counts.values(), job_id))
    return len(newly)


def _index_text(db: sqlite3.Connection, job_id: str, row: int, record: FileRecord) -> None:
    """Make a newly final record searchable, and keep its pages' word boxes."""
    if record.text.strip():
        db.execute("INSERT INTO files_text (rowid, text) VALUES (?, ?)", (row, record.text))
    if record.sha256:
        db.executemany(
            "INSERT OR IGNORE INTO words (job_id, sha256, page, boxes) VALUES (?, ?, ?, ?)",
            [(job_id, record.sha256, p.number, p.words) for p in record.pages if p.words],
        )


def _fts_query(terms: tuple[str, ...]) -> str:
    """Every term, each as an FTS5 string, so no word a user types is FTS5 syntax."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


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
