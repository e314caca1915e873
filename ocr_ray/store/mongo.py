"""MongoDB store (pymongo): job state shared by every API replica and job runner.

Each file is one document whose ``_id`` is its (job, path) key, so registering a path
twice and finishing a file twice are both decided by that unique key. A job's counters
change by ``$inc`` in the same transaction as the records that move them, and only for
files that were still pending, so a retried or duplicated result never counts twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ocr_ray.exceptions import RunningJobLimitError
from ocr_ray.models import CallbackState, FileEntry, FileRecord, FileStatus, JobStatus, printable
from ocr_ray.params import JobParams
from ocr_ray.store.base import (
    RECORD_COUNTERS,
    JobRow,
    LivePages,
    dump_record,
    key_path,
    live_status,
    load_record,
    path_key,
    record_counts,
)
from ocr_ray.store.browse import (
    FileQuery,
    brief_of,
    entry_of,
    matched_pages,
    needs_review,
    search_terms,
)
from ocr_ray.store.mongo_db import MongoDb, guarded

_PENDING = FileStatus.pending.value
_LIVE = [s.value for s in (JobStatus.queued, JobStatus.running, JobStatus.cancelling)]
_DONE = [s.value for s in (FileStatus.succeeded, FileStatus.failed, FileStatus.skipped)]
_NOTHING_LIVE = {"pages_reading": 0, "pages_queued": 0, "files_queued": 0}
# Rows a file list reads at most in one query: a window of briefs is a few megabytes.
_WIDEST_WINDOW = 4096
_STORED_ONLY = ("_id", "cancel_requested", "rows")  # fields that are not JobRow's


def _indexes() -> dict[str, list[Any]]:
    from pymongo import ASCENDING as UP
    from pymongo import DESCENDING as DOWN
    from pymongo import IndexModel

    return {
        "jobs": [
            IndexModel([("created_at", DOWN)]),
            IndexModel([("user", UP), ("created_at", DOWN)]),
        ],
        "files": [
            IndexModel([("job_id", UP), ("status", UP), ("row", UP)]),  # what is left, counts
            IndexModel([("job_id", UP), ("seq", UP)]),  # exports in scan order
            IndexModel([("job_id", UP), ("sha256", UP)]),  # identical content in a job
            # The results viewer's list, its review filter and its search: a multikey
            # index of each file's words, which MongoDB and its test servers alike keep.
            IndexModel([("job_id", UP), ("row", UP)]),
            IndexModel([("job_id", UP), ("review", UP), ("row", UP)]),
            IndexModel([("job_id", UP), ("terms", UP), ("row", UP)]),
        ],
        "words": [],  # keyed by _id: job, content, page
        "cache": [],  # keyed by _id
        "job_owners": [],  # one document per user, written to serialise their submits
    }


def file_id(job_id: str, path: str) -> str:
    """A file document's ``_id``: its job and path, unambiguously."""
    return f"{len(job_id)}:{job_id}:{path_key(path)}"


@guarded
class MongoStore:
    """Job store in a MongoDB database; any number of readers and coordinators."""

    def __init__(self, mongo: MongoDb) -> None:
        self.mongo = mongo
        mongo.collections(_indexes())
        self._jobs, self._files, self._cache = (mongo.db[n] for n in ("jobs", "files", "cache"))
        self._words = mongo.db["words"]

    # Jobs -----------------------------------------------------------------
    def create_job(
        self, *, job_id: str, params: JobParams, user: str | None = None, max_running: int = 0
    ) -> None:
        doc = _new_job(job_id, params, user)

        def create(session: Any) -> None:
            if user is not None and max_running:
                # Writing the owner's document makes two submits of one user conflict,
                # so the count and the insert below are atomic together.
                owners = self.mongo.db["job_owners"]
                owners.update_one(
                    {"_id": user}, {"$inc": {"submits": 1}}, upsert=True, session=session
                )
                if self._running(user, session) >= max_running:
                    raise RunningJobLimitError(user, max_running)
            self._jobs.insert_one(doc, session=session)

        self.mongo.transaction(create)

    def get_job(self, job_id: str) -> JobRow | None:
        doc = self._jobs.find_one({"_id": job_id})
        return _job_row(doc) if doc else None

    def list_jobs(
        self, *, limit: int = 50, offset: int = 0, user: str | None = None
    ) -> list[JobRow]:
        found = self._jobs.find(_of_user(user)).sort("created_at", -1).skip(offset).limit(limit)
        return [_job_row(doc) for doc in found]

    def count_jobs(self, *, user: str | None = None) -> int:
        return int(self._jobs.count_documents(_of_user(user)))

    def count_running(self, *, user: str) -> int:
        return self._running(user, None)

    def _running(self, user: str, session: Any) -> int:
        live: dict[str, Any] = {"user": user, "status": {"$in": _LIVE}}
        live["$or"] = [{"lease_until": None}, {"lease_until": {"$gte": time.time()}}]
        return int(self._jobs.count_documents(live, session=session))

    def start_run(self, *, job_id: str, lease_s: float) -> None:
        now = time.time()
        spent = {"$eq": ["$status", JobStatus.cancelled.value]}
        run = {
            "status": JobStatus.running.value,
            "started_at": now,
            "finished_at": None,
            "error": None,
            "done_at_start": {"$add": ["$succeeded", "$failed", "$skipped"]},
            "pages_at_start": "$pages",
            **_NOTHING_LIVE,
            "lease_until": now + lease_s,
            # A cancel that ended the last run is spent; one still pending (its
            # coordinator died first) is honoured by this run.
            "cancel_requested": {"$cond": [spent, False, "$cancel_requested"]},
        }
        self._jobs.update_one({"_id": job_id}, [{"$set": run}])

    def renew_lease(self, *, job_id: str, lease_s: float) -> None:
        self._jobs.update_one({"_id": job_id}, {"$set": {"lease_until": time.time() + lease_s}})

    def finish_run(
        self,
        *,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        cpus: float | None = None,
    ) -> None:
        now = time.time()
        ran = {"$subtract": [now, {"$ifNull": ["$started_at", now]}]}
        end = {
            "status": status.value,
            "finished_at": now,
            "error": {"$literal": error},  # a message is never read as a field path
            **_NOTHING_LIVE,
            "elapsed_prior_s": {"$add": ["$elapsed_prior_s", ran]},
            "cpus": {"$max": [{"$ifNull": ["$cpus", 0]}, cpus or 0]},
        }
        self._jobs.update_one({"_id": job_id}, [{"$set": end}])

    def set_scan_total(self, *, job_id: str, total: int, complete: bool) -> None:
        scan = {"expected_total": total, "scan_complete": complete}
        self._jobs.update_one({"_id": job_id}, {"$set": scan})

    def request_cancel(self, *, job_id: str) -> bool:
        finished = [s.value for s in JobStatus if s.finished]
        asked = self._jobs.update_one(
            {"_id": job_id, "status": {"$nin": finished}}, {"$set": {"cancel_requested": True}}
        )
        return bool(asked.matched_count == 1)

    def cancel_requested(self, *, job_id: str) -> bool:
        doc = self._jobs.find_one({"_id": job_id}, {"cancel_requested": 1})
        return bool(doc and doc.get("cancel_requested"))

    def set_callback(self, *, job_id: str, state: CallbackState) -> None:
        self._jobs.update_one({"_id": job_id}, {"$set": {"callback": state.model_dump_json()}})

    # Files ----------------------------------------------------------------
    def add_files(
        self, *, job_id: str, items: list[tuple[int, str]], final: Sequence[FileRecord] = ()
    ) -> int:
        from pymongo import UpdateOne

        def add(session: Any) -> int:
            # Rows give the registration order that a resume reads what is left in.
            reserved = {"$inc": {"rows": len(items)}}
            base = self._jobs.find_one_and_update({"_id": job_id}, reserved, session=session)
            first = int(base["rows"]) + 1 if base else 1  # 0 is "from the start"
            new = [
                UpdateOne(
                    {"_id": file_id(job_id, path)},
                    {"$setOnInsert": _new_file(job_id, path, seq, first + n)},
                    upsert=True,
                )
                for n, (seq, path) in enumerate(items)
            ]
            added = self._files.bulk_write(new, ordered=False, session=session).upserted_count
            self._jobs.update_one({"_id": job_id}, {"$inc": {"total": added}}, session=session)
            self._complete(session, job_id, final, None)
            return int(added)

        return self.mongo.transaction(add) if items or final else 0

    def pending_files(self, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        left = {"job_id": job_id, "status": _PENDING, "row": {"$gt": after}}
        found = self._files.find(left, {"row": 1, "path": 1}).sort("row", 1).limit(limit)
        return [(int(doc["row"]), key_path(doc["path"])) for doc in found]

    def complete_files(
        self, *, job_id: str, records: Sequence[FileRecord], live: LivePages | None = None
    ) -> int:
        return self.mongo.transaction(
            lambda session: self._complete(session, job_id, records, live)
        )

    def _complete(
        self, session: Any, job_id: str, records: Sequence[FileRecord], live: LivePages | None
    ) -> int:
        """Store final records in the open transaction: one unordered bulk write, each
        conditional on its file being pending; the ones it changed carry this write's
        mark, so exactly those move the counters."""
        from pymongo import UpdateOne

        mark = uuid.uuid4().hex
        by_id = {file_id(job_id, r.source_path): r for r in reversed(records)}  # the first wins
        writes = [
            UpdateOne({"_id": fid, "status": _PENDING}, {"$set": _final_file(record, mark)})
            for fid, record in by_id.items()
        ]
        if writes:
            self._files.bulk_write(writes, ordered=False, session=session)
        changed = {"_id": {"$in": list(by_id)}, "mark": mark}
        newly = [
            by_id[doc["_id"]] for doc in self._files.find(changed, {"_id": 1}, session=session)
        ]
        self._keep_words(session, job_id, newly)
        update: dict[str, Any] = {"$inc": record_counts(newly)}
        if live is not None:
            update["$set"] = {
                "pages_reading": live.reading,
                "pages_queued": live.queued,
                "files_queued": live.files,
            }
        self._jobs.update_one({"_id": job_id}, update, session=session)
        return len(newly)

    def _keep_words(self, session: Any, job_id: str, records: Sequence[FileRecord]) -> None:
        from bson import Binary
        from pymongo import UpdateOne

        writes = [
            UpdateOne(
                {"_id": _words_id(job_id, record.sha256, page.number)},
                {"$setOnInsert": {"boxes": Binary(page.words)}},
                upsert=True,
            )
            for record in records
            if record.sha256
            for page in record.pages
            if page.words
        ]
        if writes:
            self._words.bulk_write(writes, ordered=False, session=session)

    def find_by_sha(self, *, job_id: str, sha256: str) -> FileRecord | None:
        same = {"job_id": job_id, "sha256": sha256, "status": FileStatus.succeeded.value}
        doc = self._files.find_one(same, {"record": 1})
        return load_record(doc["record"]) if doc else None

    def iter_records(
        self, *, job_id: str, status: FileStatus | None = None
    ) -> Iterator[FileRecord]:
        statuses = [status.value] if status else _DONE
        final = {"job_id": job_id, "status": {"$in": statuses}}
        # A cursor in batches: an export of a million records never holds them all.
        for doc in self._files.find(final, {"record": 1}, batch_size=500).sort("seq", 1):
            yield load_record(doc["record"])

    def failures_by_code(self, *, job_id: str) -> dict[str, int]:
        failed = {"job_id": job_id, "status": FileStatus.failed.value}
        groups = self._files.aggregate(
            [{"$match": failed}, {"$group": {"_id": "$error_code", "n": {"$sum": 1}}}]
        )
        return {str(g["_id"]): int(g["n"]) for g in sorted(groups, key=lambda g: str(g["_id"]))}

    # The results viewer ---------------------------------------------------
    def list_files(self, *, job_id: str, query: FileQuery) -> list[FileEntry]:
        """A page of files, found in windows of rows that widen while they come back
        short: each window is one bounded range of an index, so no server, whatever its
        planner, reads past the page it was asked for by more than a window."""
        wanted: dict[str, Any] = {"job_id": job_id}
        if query.status:
            wanted["status"] = query.status.value
        if query.review:
            wanted["review"] = True
        if query.terms:
            # One term through the index (the longest: likely the rarest); the rest are
            # checked here, as a server may scan for an $all.
            wanted["terms"] = max(query.terms, key=len)
        checked = len(query.terms) > 1
        shown = ["row", "path", "status", "brief", *(["terms"] if checked else [])]
        job = self._jobs.find_one({"_id": job_id}, {"rows": 1}) or {}
        last, low, span = int(job.get("rows", 0)), query.after, query.limit
        found: list[dict[str, Any]] = []
        while len(found) < query.limit and low < last:
            high = min(last, low + span)
            window = {**wanted, "row": {"$gt": low, "$lte": high}}
            docs = self._files.find(window, shown).sort("row", 1)
            if not checked:  # every file found is shown: the server stops at the page
                docs = docs.limit(query.limit - len(found))
            found += [d for d in docs if set(query.terms) <= set(d.get("terms", query.terms))]
            low, span = high, min(span * 2, _WIDEST_WINDOW)
        entries = [_entry(doc) for doc in found[: query.limit]]
        if query.terms:
            self._match_pages(job_id, entries, query.terms)
        return entries

    def _match_pages(self, job_id: str, entries: list[FileEntry], terms: tuple[str, ...]) -> None:
        """Each found file's pages that hold every term, from its record (read for the
        page of files only)."""
        rows = {entry.id: entry for entry in entries}
        wanted = {"job_id": job_id, "row": {"$in": list(rows)}}
        for doc in self._files.find(wanted, ["row", "record"]):
            rows[doc["row"]].matched_pages = matched_pages(load_record(doc["record"]), terms)

    def get_file(self, *, job_id: str, file_id: int) -> FileRecord | None:
        doc = self._files.find_one({"job_id": job_id, "row": file_id}, {"record": 1})
        return load_record(doc["record"]) if doc and doc.get("record") else None

    def page_words(self, *, job_id: str, sha256: str, page: int) -> bytes | None:
        doc = self._words.find_one({"_id": _words_id(job_id, sha256, page)})
        return bytes(doc["boxes"]) if doc else None

    # Cross-job cache --------------------------------------------------------
    def cache_get(self, *, key: str) -> FileRecord | None:
        doc = self._cache.find_one({"_id": key})
        return load_record(doc["record"]) if doc else None

    def cache_put(self, *, key: str, record: FileRecord) -> None:
        cached = {"record": dump_record(record), "created_at": time.time()}
        self._cache.replace_one({"_id": key}, cached, upsert=True)


def _new_job(job_id: str, params: JobParams, user: str | None) -> dict[str, Any]:
    counts = (*RECORD_COUNTERS, "total", "done_at_start", "elapsed_prior_s", "pages_at_start")
    unset = ("started_at", "finished_at", "expected_total", "error", "lease_until", "cpus")
    return {
        "_id": job_id,
        "params": params.model_dump_json(),
        "status": JobStatus.queued.value,
        "created_at": time.time(),
        "scan_complete": False,
        "user": user,
        "cancel_requested": False,
        "rows": 0,
        **dict.fromkeys(counts, 0),
        **_NOTHING_LIVE,
        **dict.fromkeys(unset, None),
    }


def _new_file(job_id: str, path: str, seq: int, row: int) -> dict[str, Any]:
    return {"job_id": job_id, "path": path_key(path), "seq": seq, "row": row, "status": _PENDING}


def _entry(doc: dict[str, Any]) -> FileEntry:
    return entry_of(doc["row"], printable(key_path(doc["path"])), doc["status"], doc.get("brief"))


def _final_file(record: FileRecord, mark: str) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "sha256": record.sha256,
        "error_code": record.error.code if record.error else None,
        "record": dump_record(record),
        "brief": brief_of(record),
        "review": needs_review(record),
        "terms": sorted(set(search_terms(record.text))),
        "mark": mark,
    }


def _words_id(job_id: str, sha256: str, page: int) -> str:
    return f"{len(job_id)}:{job_id}:{sha256}:{page}"


def _of_user(user: str | None) -> dict[str, Any]:
    return {"user": user} if user is not None else {}


def _job_row(doc: dict[str, Any]) -> JobRow:
    data = {name: value for name, value in doc.items() if name not in _STORED_ONLY}
    data["id"] = doc["_id"]
    data["params"] = JobParams.model_validate_json(doc["params"])
    data["status"] = live_status(JobStatus(doc["status"]), doc.get("lease_until"))
    callback = data.pop("callback", None)
    data["callback"] = CallbackState.model_validate_json(callback) if callback else None
    return JobRow(**data)
