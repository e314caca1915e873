"""Sending a job's completion webhook: signed, retried with backoff, every attempt kept.

The job runner calls ``deliver`` once a job has completed, failed or been cancelled
(and again after a restart, for deliveries still pending). Each attempt is stored on
the job, so progress and ``ocr-ray status`` show them; 2xx is delivered, anything else
is tried again after 1, 2, 4 ... times ``callback_first_retry_s`` until
``callback_retry_for_s`` has passed since the first attempt.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time

from ocr_ray import __version__
from ocr_ray.api import summary_of
from ocr_ray.models import CallbackAttempt, CallbackOutcome, CallbackState
from ocr_ray.store import JobRow, JobStore, UserStore
from serve.settings import ServeSettings
from serve.webhooks.allowlist import CallbackRefused, Target, parse_hosts, vet
from serve.webhooks.signing import SIGNATURE_HEADER, sign

EVENT_HEADER = "X-OcrRay-Event"
_REFUSED = "refused: "  # starts the error of an attempt the allowlist stopped


def deliver(store: JobStore, users: UserStore, job_id: str, settings: ServeSettings) -> None:
    """Send ``job_id``'s summary to its callback URL until it is taken or time is up."""
    row = store.get_job(job_id)
    if row is None or not row.params.callback_url or not row.status.finished:
        return
    state = row.callback or CallbackState(url=row.params.callback_url)
    secret = users.webhook_secret(name=row.user) if row.user else None
    body = _body(store, row)
    delay = settings.callback_first_retry_s * 2 ** len(state.attempts)
    while state.outcome is CallbackOutcome.pending:
        attempt = (
            _attempt(state.url, body, secret, row.status.value, settings)
            if secret
            else CallbackAttempt(at=time.time(), error="no live key to sign with (revoked)")
        )
        state.attempts.append(attempt)
        if attempt.status_code is not None and 200 <= attempt.status_code < 300:
            state.outcome = CallbackOutcome.delivered
        elif not secret or _refused(attempt) or _past(state, delay, settings):
            state.outcome = CallbackOutcome.gave_up
        store.set_callback(job_id=job_id, state=state)
        if state.outcome is CallbackOutcome.pending:
            time.sleep(delay)
            delay *= 2


def _body(store: JobStore, row: JobRow) -> bytes:
    summary = summary_of(store, row)
    payload = {
        "event": f"job.{row.status.value}",
        "job_id": row.id,
        "summary": summary.model_dump(mode="json"),
    }
    return json.dumps(payload, sort_keys=True).encode()


def _past(state: CallbackState, delay: float, settings: ServeSettings) -> bool:
    """Whether the next attempt would come after the retry time has run out."""
    return time.time() + delay > state.attempts[0].at + settings.callback_retry_for_s


def _refused(attempt: CallbackAttempt) -> bool:
    """The allowlist no longer takes the URL: retrying cannot help."""
    return bool(attempt.error and attempt.error.startswith(_REFUSED))


def _attempt(
    url: str, body: bytes, secret: str, status: str, settings: ServeSettings
) -> CallbackAttempt:
    """One POST; what came of it."""
    at = time.time()
    try:
        target = vet(url, parse_hosts(settings.callback_hosts))  # again: the list may change
    except CallbackRefused as exc:
        return CallbackAttempt(at=at, error=_REFUSED + str(exc))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"ocr-ray/{__version__}",
        EVENT_HEADER: f"job.{status}",
        SIGNATURE_HEADER: sign(secret, body, int(at)),
    }
    connection = _connection(target, settings.callback_timeout_s)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # an answer's body is not kept, nor read without end
    except (OSError, http.client.HTTPException) as exc:
        return CallbackAttempt(at=at, error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        connection.close()
    if 300 <= response.status < 400:
        return CallbackAttempt(at=at, status_code=response.status, error="redirect not followed")
    error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
    return CallbackAttempt(at=at, status_code=response.status, error=error)


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the vetted address that names the URL's host (Host, TLS SNI)."""
    if target.scheme == "https":
        return _PinnedHttps(target, timeout)
    connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    connection.sock = socket.create_connection((target.address, target.port), timeout)
    return connection


class _PinnedHttps(http.client.HTTPSConnection):
    """HTTPS to the vetted address, with the certificate checked for the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._context = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._context)
        self._target = target

    def connect(self) -> None:
        raw = socket.create_connection((self._target.address, self._target.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self._target.host)
