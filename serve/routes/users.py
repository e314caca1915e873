"""Who the caller is, and the admins' view of keys and the audit trail."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from serve.deps import AdminDep, UserDep, UsersDep, current_user
from serve.schemas import AUTH_ERRORS, AuditRecord, KeyInfo, Me, errors

router = APIRouter(
    prefix="/api", tags=["users"], dependencies=[Depends(current_user)], responses=AUTH_ERRORS
)


@router.get("/me", response_model=Me)
def me(user: UserDep) -> Me:
    """The user the key belongs to, and whether it is an admin's."""
    return Me(user=user.user, admin=user.admin)


@router.get("/admin/keys", response_model=list[KeyInfo], responses=errors(403))
def keys(store: UsersDep, _admin: AdminDep) -> list[KeyInfo]:
    """Every key's owner and state, revoked ones included (admins only)."""
    return [
        KeyInfo(name=k.name, admin=k.admin, created_at=k.created_at, revoked_at=k.revoked_at)
        for k in store.list_keys()
    ]


@router.get("/admin/audit", response_model=list[AuditRecord], responses=errors(403, 422))
def audit(
    store: UsersDep,
    _admin: AdminDep,
    user: Annotated[str | None, Query(max_length=64)] = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditRecord]:
    """Who submitted, cancelled and downloaded what, newest first (admins only)."""
    entries = store.list_audit(limit=limit, offset=offset, user=user, job_id=job_id)
    return [AuditRecord(**dataclasses.asdict(e)) for e in entries]
