"""Deploying docker-stack.ray.yml, as it is or rewritten for a single host network."""

from __future__ import annotations

import copy
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

STACK_FILE = Path(__file__).resolve().parent.parent / "docker-stack.ray.yml"
LOOPBACK_HEAD = "127.0.0.1"
HEALTHCHECK = "/src/cluster/healthcheck.sh"


def load_stack(path: Path = STACK_FILE) -> dict[str, Any]:
    """The stack file as data (anchors and merge keys resolved)."""
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def host_network(
    stack: dict[str, Any],
    *,
    docker_socket: str,
    api_port: int,
    store_port: int,
    address: str = LOOPBACK_HEAD,
) -> dict[str, Any]:
    """Rewrite the stack for engines that have no iptables or bridge: every container
    joins its host's network, and nothing is published.

    ``address`` is the manager's: on a single node, loopback, where Ray binds to
    loopback addresses (one per worker and API slot, so nodes stay distinguishable; the
    API nodes' HTTP proxies share one port) and the API and store listen on loopback
    alone. Across hosts it is the manager's private address: the head and the store
    listen there, each other node's Ray takes its host's address on the way to the head,
    and the API listens on its host. Reservations that a small machine cannot honour
    are dropped.
    """
    single = address.startswith("127.")
    out = copy.deepcopy(stack)
    out["networks"] = {"hostnet": {"external": True, "name": "host"}}
    node_ips = {"ray-head": address}
    if single:
        node_ips.update({"api": "127.0.3.{{.Task.Slot}}", "ray-worker": "127.0.1.{{.Task.Slot}}"})
    for name, service in out["services"].items():
        service["networks"] = ["hostnet"]
        service.pop("ports", None)
        service.pop("hostname", None)  # the host network keeps the host's name
        env = service.setdefault("environment", {})
        env.update(
            OCR_RAY_HEAD_HOST=address,
            OCR_RAY_DASHBOARD_HOST=LOOPBACK_HEAD,  # reached through the head container
            OCR_RAY_API_HOST=address if single else "0.0.0.0",
            OCR_RAY_API_PORT=str(api_port),
            OCR_RAY_MONGO_HOST=address,
            OCR_RAY_MONGO_PORT=str(store_port),
        )
        if name in node_ips:  # the Ray nodes
            env["OCR_RAY_NODE_IP"] = node_ips[name]
        if name == "ray-head":  # what the autoscaler's workers need on this network
            env["OCR_RAY_WORKER_NETWORK"] = "host"
            if single:
                env["OCR_RAY_LOOPBACK_PREFIX"] = "127.0.2"
        service["volumes"] = [_local_socket(v, docker_socket) for v in service.get("volumes", [])]
        service["deploy"].get("resources", {}).pop("reservations", None)
    return out


def on_worker_nodes(stack: dict[str, Any]) -> dict[str, Any]:
    """Keep the Ray workers off the managers (for a swarm that has worker nodes), which
    keep the head, the API and the store."""
    out = copy.deepcopy(stack)
    placement = out["services"]["ray-worker"]["deploy"].setdefault("placement", {})
    placement["constraints"] = ["node.role == worker"]
    return out


def with_test_store(stack: dict[str, Any]) -> dict[str, Any]:
    """Run the store service as the test-time MongoDB-wire server (SecantusDB) in the
    project's image, for machines that cannot pull MongoDB's: tests and demos only."""
    out = copy.deepcopy(stack)
    store = out["services"]["mongodb"]
    store.update(
        image=out["services"]["api"]["image"],
        command=["store-test"],
        healthcheck={**store["healthcheck"], "test": ["CMD", HEALTHCHECK, "store"]},
    )
    return out


def store_url(*, host_network: str | None, test_store: bool, store_port: int) -> str:
    """Where the API finds the stack's own MongoDB service; ``host_network``: the
    manager's address on a host network, None on the stack's overlay network."""
    host = f"{host_network}:{store_port}" if host_network else "mongodb:27017"
    # The test server is a single node; MongoDB itself runs as a one-node replica set.
    options = "directConnection=true" if test_store else "replicaSet=rs0"
    return f"mongodb://{host}/ocr_ray?{options}"


def _local_socket(volume: str, docker_socket: str) -> str:
    return volume.replace("/var/run/docker.sock:", f"{docker_socket}:", 1)


def deploy(stack: dict[str, Any], name: str, env: dict[str, str]) -> None:
    """``docker stack deploy`` the given stack data under ``name``."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(stack, handle, sort_keys=False)
    try:
        subprocess.run(
            [
                "docker",
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "--prune",
                "-c",
                handle.name,
                name,
            ],
            check=True,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(handle.name)


def remove(name: str) -> None:
    """``docker stack rm``."""
    subprocess.run(["docker", "stack", "rm", name], check=True, capture_output=True, text=True)
