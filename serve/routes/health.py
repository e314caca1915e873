"""Liveness and readiness (no token: for orchestrators' health checks)."""

from __future__ import annotations

import ray
from fastapi import APIRouter, HTTPException, status

from serve.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
def ready(store: StoreDep) -> dict[str, str]:
    """The store answers and Ray is reachable; 503 otherwise.

    No CPUs is still ready: an autoscaler adds workers once tasks are pending.
    """
    try:
        store.count_jobs()
        cpus = ray.cluster_resources().get("CPU", 0)
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"not ready: {exc}") from exc
    return {"status": "ready", "store": "ok", "ray": "ok", "cpus": str(cpus)}
