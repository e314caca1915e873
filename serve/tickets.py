"""Download links: a browser follows a link by itself, without the API key a header
would carry, so the page asks for a link that is signed, short-lived and good for one
job's one download only, then lets the browser stream the file from it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

# Long enough to start a download; a started one streams on past it.
TICKET_TTL_S = 120.0


def _key(secret: str) -> bytes:
    # Derived, so the bootstrap key itself never signs anything a browser holds.
    return hmac.new(secret.encode(), b"ocr-ray download links", hashlib.sha256).digest()


def issue(secret: str, job_id: str, fmt: str, *, now: float | None = None) -> tuple[str, float]:
    """A ticket for ``fmt`` of ``job_id``, and when it expires (Unix time)."""
    expires = (now or time.time()) + TICKET_TTL_S
    payload = f"{job_id}\n{fmt}\n{expires:.0f}".encode()
    mac = hmac.new(_key(secret), payload, hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + mac, expires


def redeem(secret: str, ticket: str, *, now: float | None = None) -> tuple[str, str] | None:
    """The (job id, format) of a valid ticket that has not expired; None otherwise."""
    encoded, _, mac = ticket.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    expected = hmac.new(_key(secret), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    job_id, fmt, expires = payload.decode().split("\n")
    return (job_id, fmt) if float(expires) >= (now or time.time()) else None
