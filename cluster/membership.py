"""Which machines belong to the swarm: the join command for a new one, and removal."""

from __future__ import annotations

from typing import Any

from docker.errors import APIError

from cluster.swarm import Swarm
from ocr_ray.exceptions import UsageError


def join_command(swarm: Swarm, *, manager: bool = False) -> str:
    """The exact ``docker swarm join`` a new machine runs to become a worker (or manager)."""
    swarm.client.swarm.reload()
    token = swarm.client.swarm.attrs["JoinTokens"]["Manager" if manager else "Worker"]
    managers = swarm.client.info()["Swarm"].get("RemoteManagers") or []
    if not managers:
        raise UsageError("this engine is not part of a swarm (run it on a manager node)")
    return f"docker swarm join --token {token} {managers[0]['Addr']}"


def remove_node(swarm: Swarm, name: str, *, drain_timeout_s: float, force: bool) -> str:
    """Drain ``name``, wait until the stack's tasks left it, then remove it from the swarm.

    The last manager is never removed (the swarm and its state would go with it). A
    manager is demoted first. A node whose engine still runs must leave by itself
    (``docker swarm leave`` on it) unless ``force``; the node stays drained meanwhile.
    """
    node = swarm.node(name)
    _refuse_last_manager(swarm, node, name)
    swarm.set_availability(name, "drain")
    swarm.wait_drained(name, drain_timeout_s)
    node.reload()
    if node.attrs["Spec"]["Role"] == "manager":
        node.update(dict(node.attrs["Spec"], Role="worker"))
    try:
        node.reload()
        swarm.client.api.remove_node(node.id, force=force)
    except APIError as exc:
        raise UsageError(
            f"{name} is drained but still up: run `docker swarm leave` on it, then "
            f"`ocr-ray cluster remove-node {name}` again (or add --force). Docker said: "
            f"{exc.explanation or exc}"
        ) from exc
    return str(node.id[:12])


def _refuse_last_manager(swarm: Swarm, node: Any, name: str) -> None:
    if node.attrs["Spec"]["Role"] != "manager":
        return
    managers = [n for n in swarm.client.nodes.list() if n.attrs["Spec"]["Role"] == "manager"]
    if len(managers) <= 1:
        raise UsageError(
            f"refusing to remove {name}: it is the swarm's last manager, and removing it "
            "would end the swarm; promote another node first (docker node promote)"
        )
