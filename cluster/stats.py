"""``docker stats`` for a stack's containers, each paired with the Ray node it runs.

The Docker API reports stats only for containers of the engine it talks to, so this
covers the node the command runs on (point ``DOCKER_HOST`` at another node for its).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster.swarm import Swarm, env_dict

_SERVICE_LABEL = "com.docker.swarm.service.name"


def stack_stats(swarm: Swarm) -> list[dict[str, Any]]:
    """One row per running container of the stack (autoscaled workers included)."""
    containers = [
        c
        for c in swarm.client.containers.list(filters={"status": "running"})
        if c.labels.get(_SERVICE_LABEL, "").startswith(f"{swarm.stack}_")
    ]
    try:
        ray_nodes = swarm.ray_nodes()
    except (LookupError, RuntimeError):  # the head is restarting: stats without Ray ids
        ray_nodes = []
    with ThreadPoolExecutor(max_workers=8) as pool:  # each sample waits ~1 s for a delta
        samples = list(pool.map(lambda c: c.stats(stream=False), containers))
    rows = [
        dict(
            _usage(sample),
            container=c.name,
            service=c.labels[_SERVICE_LABEL],
            ray_node=_ray_node(c, ray_nodes),
        )
        for c, sample in zip(containers, samples, strict=True)
    ]
    return sorted(rows, key=lambda r: r["container"])


def _usage(sample: dict[str, Any]) -> dict[str, Any]:
    cpu, pre = sample.get("cpu_stats", {}), sample.get("precpu_stats", {})
    used = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cores = cpu.get("online_cpus") or 1
    memory = sample.get("memory_stats", {})
    networks = sample.get("networks")  # absent on the host network
    return {
        "cpu_percent": round(100.0 * used / system * cores, 1) if system > 0 else 0.0,
        "memory_mib": round(memory.get("usage", 0) / 2**20, 1),
        "memory_limit_mib": round(memory.get("limit", 0) / 2**20, 1),
        "net_rx_mib": _net(networks, "rx_bytes"),
        "net_tx_mib": _net(networks, "tx_bytes"),
    }


def _net(networks: dict[str, Any] | None, key: str) -> float | None:
    if networks is None:
        return None
    return round(sum(n.get(key, 0) for n in networks.values()) / 2**20, 2)


def _ray_node(container: Any, ray_nodes: list[dict[str, Any]]) -> str | None:
    """The Ray node id of a container: the head by role; API nodes and workers by their
    address, among the nodes of their kind."""
    service = container.labels[_SERVICE_LABEL]
    if service.endswith("_ray-head"):
        candidates = [n for n in ray_nodes if n.get("head")]
    else:
        api, addresses = service.endswith("_api"), _addresses(container.attrs)
        candidates = [
            n
            for n in ray_nodes
            if n["ip"] in addresses and not n.get("head") and bool(n.get("api")) == api
        ]
    return str(candidates[0]["id"]) if len(candidates) == 1 else None


def _addresses(attrs: dict[str, Any]) -> set[str]:
    """The container's own IPs, or on the host network the IP Ray was told to use."""
    networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    found = {n.get("IPAddress") for n in networks.values() if n.get("IPAddress")}
    env = env_dict(attrs.get("Config", {}).get("Env"))
    if env.get("OCR_RAY_NODE_IP"):
        found.add(env["OCR_RAY_NODE_IP"])
    return found
