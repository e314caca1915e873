"""Rolling restarts and updates of a stack's service, rolled back when new tasks fail.

Swarm replaces one task at a time (``Parallelism 1``), waits for the new task to be
running (healthy, where the service has a health check) and watches it for
``monitor_s``. A task that exits or turns unhealthy in that time fails the update, and
``FailureAction rollback`` puts the previous spec back, again one task at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cluster.swarm import Swarm, env_dict

_NS = 10**9
# Terminal states of Swarm's UpdateStatus.
_DONE = frozenset({"completed", "rollback_completed", "rollback_paused", "paused"})


@dataclass(frozen=True)
class UpdateOutcome:
    """How a rolling update ended."""

    state: str  # completed, rollback_completed, rollback_paused, paused
    message: str

    @property
    def ok(self) -> bool:
        """The new spec runs everywhere."""
        return self.state == "completed"


@dataclass(frozen=True)
class Change:
    """What an update changes; ``None`` or empty leaves that part as it is."""

    image: str | None = None
    env: dict[str, str] | None = None
    limit_cpus: float | None = None
    limit_memory_bytes: int | None = None
    force: bool = False  # replace every task even if nothing else changed (a restart)


def roll(swarm: Swarm, role: str, change: Change, *, monitor_s: float = 30.0) -> Any:
    """Start a rolling update of ``role``; returns the previous UpdateStatus (for wait)."""
    service = swarm.service(role)
    service.reload()
    spec = service.attrs["Spec"]
    before = service.attrs.get("UpdateStatus")
    swarm.client.api.update_service(
        service.id,
        service.version,
        task_template=_task_template(spec["TaskTemplate"], change),
        update_config=_update_config(spec.get("UpdateConfig") or {}, monitor_s),
        rollback_config=_rollback_config(spec.get("RollbackConfig") or {}),
        fetch_current_spec=True,
    )
    return before


def wait_rolled(swarm: Swarm, role: str, before: Any, timeout_s: float) -> UpdateOutcome:
    """Block until the update started after ``before`` ends, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    service = swarm.service(role)
    while True:
        service.reload()
        status = service.attrs.get("UpdateStatus")
        if status and status != before and status.get("State") in _DONE:
            return UpdateOutcome(status["State"], status.get("Message", ""))
        if time.monotonic() > deadline:
            state = (status or {}).get("State", "not started")
            raise TimeoutError(
                f"the update of {service.name} is still {state} after {timeout_s:g} s"
            )
        time.sleep(2)


def _task_template(current: dict[str, Any], change: Change) -> dict[str, Any]:
    container: dict[str, Any] = {}
    if change.image:
        container["Image"] = change.image
    if change.env:
        container["Env"] = _merge_env(current.get("ContainerSpec", {}).get("Env") or [], change.env)
    template: dict[str, Any] = {"ContainerSpec": container} if container else {}
    limits = {}
    if change.limit_cpus is not None:
        limits["NanoCPUs"] = int(change.limit_cpus * _NS)
    if change.limit_memory_bytes is not None:
        limits["MemoryBytes"] = change.limit_memory_bytes
    if limits:
        resources = dict(current.get("Resources") or {})
        resources["Limits"] = dict(resources.get("Limits") or {}, **limits)
        template["Resources"] = resources
    if change.force:
        template["ForceUpdate"] = int(current.get("ForceUpdate", 0)) + 1
    return template


def _merge_env(current: list[str], changes: dict[str, str]) -> list[str]:
    """``KEY=VALUE`` entries with ``changes`` replacing or adding keys, order kept."""
    merged = env_dict(current)
    merged.update(changes)
    return [f"{key}={value}" for key, value in merged.items()]


def _update_config(current: dict[str, Any], monitor_s: float) -> dict[str, Any]:
    return {
        "Parallelism": 1,
        "Order": current.get("Order", "stop-first"),
        "Delay": current.get("Delay", 0),
        "FailureAction": "rollback",
        "Monitor": int(monitor_s * _NS),
        "MaxFailureRatio": 0,
    }


def _rollback_config(current: dict[str, Any]) -> dict[str, Any]:
    # A rollback goes on through failures: a failed task of the new spec that swarm's
    # restart policy brings back counts as one, and pausing there would leave the
    # service half on the spec that just failed.
    return {
        "Parallelism": 1,
        "Order": current.get("Order", "stop-first"),
        "FailureAction": "continue",
        "Monitor": current.get("Monitor", 0),
        "MaxFailureRatio": 0,
    }
