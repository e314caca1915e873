"""Cluster routes: what Ray has and is doing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serve.deps import SettingsDep, StoreDep, UserDep, current_user
from serve.schemas import AUTH_ERRORS, WorkersInfo
from serve.workers import workers_info

router = APIRouter(
    prefix="/api/cluster",
    tags=["cluster"],
    dependencies=[Depends(current_user)],
    responses=AUTH_ERRORS,
)


@router.get("/workers", response_model=WorkersInfo)
def workers(settings: SettingsDep, store: StoreDep, user: UserDep) -> WorkersInfo:
    """Ray nodes alive, CPUs total and used, pending tasks, and the caller's running jobs
    (every user's for an admin)."""
    info = workers_info(settings.resolved_store_url)
    if not user.admin:
        rows = (store.get_job(job_id) for job_id in info.jobs_running)
        info.jobs_running = [row.id for row in rows if row is not None and row.user == user.user]
    return info
