"""Idempotent submits: a retried ``process`` or ``upload`` with the same
``Idempotency-Key`` gets the job the first one started, and starts nothing.

The key is claimed in the store before the job is made, so of two requests at once
only one starts a job; the other waits for it and answers with its job. A key used for
a different request is a conflict. A request that fails frees its key, so it may be
retried; keys expire after ``OCR_RAY_IDEMPOTENCY_TTL_S`` (24 hours).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from typing import IO, Annotated, Any

from fastapi import Header, HTTPException, status

from ocr_ray.store import RequestClaim, UserStore

HEADER = "Idempotency-Key"
# How long a retry waits for the first request to start its job before a 409.
_WAIT_S = 60.0
_POLL_S = 0.1

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="a retry with the same key and request returns the first job (200)",
    ),
]


def request_digest(route: str, fields: dict[str, Any], files: Iterable[IO[bytes]] = ()) -> str:
    """SHA-256 of what makes two requests the same: the route, the fields, and the
    content of each uploaded file, in order."""
    digest = hashlib.sha256(json.dumps([route, fields], sort_keys=True, default=str).encode())
    for stream in files:
        stream.seek(0)
        while chunk := stream.read(1024 * 1024):
            digest.update(hashlib.sha256(chunk).digest())
        digest.update(b"\0")
        stream.seek(0)
    return digest.hexdigest()


def once(
    users: UserStore,
    *,
    user: str,
    key: str | None,
    digest: str,
    job_id: str,
    ttl_s: float,
    start: Callable[[], None],
) -> tuple[str, bool]:
    """``(job_id, replayed)``: ``start()`` runs for ``job_id`` unless ``key`` already
    holds a job for this request, whose id is returned instead (replayed)."""
    if key is None:
        start()
        return job_id, False
    deadline = time.monotonic() + _WAIT_S
    while (held := _claim(users, user, key, digest, job_id, ttl_s)) is not None:
        if held.digest != digest:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"{HEADER} was already used for a different request"
            )
        if held.started:
            return held.job_id, True
        if time.monotonic() > deadline:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"the first request with this {HEADER} is still being worked on; retry later",
            )
        time.sleep(_POLL_S)
    try:
        start()
    except BaseException:
        users.settle_request(user=user, key=key, started=False)
        raise
    users.settle_request(user=user, key=key, started=True)
    return job_id, False


def _claim(
    users: UserStore, user: str, key: str, digest: str, job_id: str, ttl_s: float
) -> RequestClaim | None:
    return users.claim_request(user=user, key=key, digest=digest, job_id=job_id, ttl_s=ttl_s)
