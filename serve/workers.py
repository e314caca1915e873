"""A snapshot of the Ray cluster for the API and the page."""

from __future__ import annotations

from typing import Any

import ray

from serve.runner import job_runner
from serve.schemas import WorkersInfo

_PENDING = {
    "PENDING_ARGS_AVAIL",
    "PENDING_NODE_ASSIGNMENT",
    "PENDING_OBJ_STORE_MEM_AVAIL",
    "PENDING_ARGS_FETCH",
    "SUBMITTED_TO_WORKER",
}


def workers_info(store_url: str) -> WorkersInfo:
    """Nodes, CPUs and pending work right now."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    heads = [n for n in nodes if "node:__internal_head__" in n.get("Resources", {})]
    total = ray.cluster_resources().get("CPU", 0.0)
    free = ray.available_resources().get("CPU", 0.0)
    running = ray.get(job_runner(store_url).running.remote(), timeout=30)
    return WorkersInfo(
        nodes_alive=len(nodes),
        worker_nodes=len(nodes) - len(heads),
        cpus_total=total,
        cpus_used=total - free,
        pending_tasks=_pending_tasks(),
        jobs_running=running,
    )


def _pending_tasks() -> int | None:
    """Tasks waiting for a node (needs Ray's state API, i.e. the dashboard)."""
    try:
        from ray.util.state import summarize_tasks

        summary: Any = summarize_tasks(raise_on_missing_output=False)
        states = summary["cluster"]["summary"].values()
        return sum(
            count for s in states for state, count in s["state_counts"].items() if state in _PENDING
        )
    except Exception:  # no dashboard: the figure is unknown, not zero
        return None
