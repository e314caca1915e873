"""Injected dependencies: settings, store, the caller's identity, and the audit trail."""

from __future__ import annotations

import functools
import math
import re
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ocr_ray.store import AuditEntry, JobRow, JobStore, UserStore, open_store, open_user_store
from serve.keys import Principal, identify
from serve.security import load_token
from serve.settings import ServeSettings, get_serve_settings
from serve.throttle import AuthThrottle

_bearer = HTTPBearer(auto_error=False)


@functools.lru_cache(maxsize=1)
def _token() -> str:
    return load_token(get_serve_settings())


@functools.lru_cache(maxsize=1)
def _store() -> JobStore:
    return open_store()


@functools.lru_cache(maxsize=1)
def _throttle() -> AuthThrottle:
    settings = get_serve_settings()
    return AuthThrottle(
        _users(), allowed=settings.auth_failures_allowed, max_lockout_s=settings.auth_lockout_max_s
    )


@functools.lru_cache(maxsize=1)
def _users() -> UserStore:
    return open_user_store()


# The dependencies are async although they do no I/O of their own: FastAPI runs a sync
# dependency on a worker thread, and the hop cost more than a poll of progress does.
async def _settings_dep() -> ServeSettings:
    return get_serve_settings()


async def _store_dep() -> JobStore:
    return _store()


async def _users_dep() -> UserStore:
    return _users()


async def _secret_dep() -> str:
    return _token()


SettingsDep = Annotated[ServeSettings, Depends(_settings_dep)]
# What signs download links: the bootstrap admin key, which every replica has.
SecretDep = Annotated[str, Depends(_secret_dep)]
StoreDep = Annotated[JobStore, Depends(_store_dep)]
UsersDep = Annotated[UserStore, Depends(_users_dep)]


def client_address(request: Request) -> str:
    """The caller's address, as the server sees it."""
    return request.client.host if request.client else "unknown"


def authenticate(request: Request) -> Principal:
    """The key's user; 401 without a live key, 429 while that key is locked out.

    Called by ``serve.gate.KeyGate`` before a request's body is read.
    """
    address, throttle = client_address(request), _throttle()
    credentials = _bearer_key(request)
    key = credentials.credentials if credentials else ""
    wait = throttle.wait_s(address, key)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong API keys from {address}; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    user = identify(key, _token(), _users()) if credentials else None
    if user is None:
        if credentials is not None:  # a key was tried: count it; no key is no guess
            throttle.failed(address, key)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing, wrong or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.succeeded(address, key)
    return user


def _bearer_key(request: Request) -> HTTPAuthorizationCredentials | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())


async def current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user the gate authenticated (the bearer scheme is named for the OpenAPI docs)."""
    user = getattr(request.state, "principal", None)
    if user is None:  # a route outside the gate's paths: authenticate here
        user = authenticate(request)
    return user


UserDep = Annotated[Principal, Depends(current_user)]


JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def owned_job(store: JobStore, job_id: str, user: Principal) -> JobRow:
    """The job if the caller may see it; 404 otherwise, so that ids reveal nothing."""
    row = store.get_job(job_id) if JOB_ID_PATTERN.match(job_id) else None
    if row is None or not (user.admin or row.user == user.user):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return row


async def _owned_job_dep(job_id: str, store: StoreDep, user: UserDep) -> JobRow:
    return owned_job(store, job_id, user)


# The route's ``{job_id}``, if it is the caller's job.
JobDep = Annotated[JobRow, Depends(_owned_job_dep)]


async def require_admin(user: UserDep) -> Principal:
    """403 unless the key is an admin's."""
    if not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin key")
    return user


class Auditor:
    """Writes the caller's actions to the store's audit trail."""

    def __init__(self, store: UserStore, user: Principal, address: str) -> None:
        self.store, self.user, self.address = store, user, address

    def __call__(self, action: str, job_id: str | None = None, detail: str = "") -> None:
        """Record ``action`` on ``job_id`` now."""
        entry = AuditEntry(time.time(), self.user.user, action, job_id, detail, self.address)
        self.store.add_audit(entry)


async def _auditor(request: Request, store: UsersDep, user: UserDep) -> Auditor:
    return Auditor(store, user, client_address(request))


AuditDep = Annotated[Auditor, Depends(_auditor)]
AdminDep = Annotated[Principal, Depends(require_admin)]
