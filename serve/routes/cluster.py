"""Cluster routes: what Ray has and is doing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serve.deps import SettingsDep, require_token
from serve.schemas import WorkersInfo
from serve.workers import workers_info

router = APIRouter(prefix="/api/cluster", tags=["cluster"], dependencies=[Depends(require_token)])


@router.get("/workers", response_model=WorkersInfo)
def workers(settings: SettingsDep) -> WorkersInfo:
    """Ray nodes alive, CPUs total and used, pending tasks, jobs running."""
    return workers_info(settings.resolved_store_url)
