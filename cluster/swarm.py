"""Docker Swarm access through the docker SDK: services, nodes, secrets, Ray inside the head."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import NotFound

from ocr_ray.exceptions import UsageError


class UnknownNodeError(UsageError, LookupError):
    """No swarm node has that id or hostname."""


# Task states whose container has exited (or never started on a node).
_GONE = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})


@dataclass
class Swarm:
    """One stack on one swarm."""

    stack: str
    client: Any = None

    def __post_init__(self) -> None:
        self.client = self.client or docker.from_env()

    def service(self, role: str) -> Any:
        """The stack's service for ``role`` (ray-head, ray-worker, api)."""
        return self.client.services.get(f"{self.stack}_{role}")

    def services(self) -> list[Any]:
        """Every service of the stack, plus autoscaler-created workers."""
        wanted = {"label": [f"com.docker.stack.namespace={self.stack}"]}
        found = {s.id: s for s in self.client.services.list(filters=wanted)}
        for s in self.client.services.list(filters={"label": [f"ocr-ray.stack={self.stack}"]}):
            found[s.id] = s
        return sorted(found.values(), key=lambda s: s.name)

    def replicas(self, service: Any) -> tuple[int, int]:
        """(running, desired) tasks of a replicated service; (0, 0) once it is gone."""
        try:
            service.reload()
        except NotFound:
            return 0, 0
        desired = service.attrs["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)
        running = sum(  # a task being stopped still reports "running" until it exits
            1
            for t in service.tasks()
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
        )
        return running, desired

    def scale(self, replicas: int) -> None:
        """Set the worker service's replica count."""
        self.service("ray-worker").scale(replicas)

    def nodes(self) -> list[dict[str, Any]]:
        """Swarm nodes: role, availability, state, manager status, address and size."""
        return [_describe_node(n.attrs) for n in self.client.nodes.list()]

    def own_address(self) -> str:
        """The address this node advertises to the swarm (127.0.0.1 on a single node
        made by prepare-local-swarm.sh; a private address on a multi-host swarm)."""
        return str(self.client.info()["Swarm"]["NodeAddr"])

    def node(self, node: str) -> Any:
        """The swarm node named by id, short id or hostname (UnknownNodeError if none)."""
        for candidate in self.client.nodes.list():
            names = (candidate.id, candidate.id[:12], candidate.attrs["Description"]["Hostname"])
            if node in names:
                return candidate
        raise UnknownNodeError(f"no swarm node {node!r}")

    def set_availability(self, node: str, availability: str) -> None:
        """Drain (``drain``) or restore (``active``) a swarm node by id or hostname."""
        found = self.node(node)
        found.update(dict(found.attrs["Spec"], Availability=availability))

    def tasks_on(self, node: str) -> int:
        """Tasks of this stack whose containers still exist on ``node`` (stopping included)."""
        node_id = self.node(node).id
        return sum(
            1
            for service in self.services()
            for task in service.tasks(filters={"node": node_id})
            if task["Status"]["State"] not in _GONE
        )

    def wait_drained(self, node: str, timeout_s: float) -> None:
        """Block until ``node`` holds no task of this stack, or raise TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while (left := self.tasks_on(node)) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} tasks still on {node} after {timeout_s:g} s")
            time.sleep(2)

    def head_container(self) -> Any:
        """The running head container on this node."""
        label = {
            "label": [f"com.docker.swarm.service.name={self.stack}_ray-head"],
            "status": "running",
        }
        containers = self.client.containers.list(filters=label)
        if not containers:
            raise LookupError("no running Ray head container on this node")
        return containers[0]

    def head_running(self) -> bool:
        """Whether a head container of this stack still runs on this node."""
        try:
            self.head_container()
        except LookupError:
            return False
        return True

    def ray_nodes(self) -> list[dict[str, Any]]:
        """Alive Ray nodes as the head sees them (id, ip, CPUs, whether head)."""
        script = (
            "import json, ray; ray.init(address='auto', logging_level='ERROR');"
            "print('OCR_RAY_NODES', json.dumps([{'id': n['NodeID'], 'ip': n['NodeManagerAddress'],"
            " 'cpus': n['Resources'].get('CPU', 0),"
            " 'head': 'node:__internal_head__' in n['Resources'],"
            " 'api': 'ocr_api' in n['Resources']}"
            " for n in ray.nodes() if n['Alive']]))"
        )
        try:
            result = self.head_container().exec_run(["python3", "-c", script])
        except docker.errors.APIError as exc:  # the container is stopping or restarting
            raise RuntimeError(str(exc)) from exc
        output = result.output.decode(errors="replace")
        # Ray may log to the same stream (a line can even start with "["): find ours.
        found = [line for line in output.splitlines() if line.startswith("OCR_RAY_NODES ")]
        if result.exit_code != 0 or not found:
            raise RuntimeError(output[-2000:])
        return list(json.loads(found[-1].removeprefix("OCR_RAY_NODES ")))

    def wait_for_workers(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """Block until ``count`` Ray nodes with CPUs are alive, or raise TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                workers = [n for n in self.ray_nodes() if n["cpus"] > 0]
            except (LookupError, RuntimeError):
                workers = []
            if len(workers) >= count:
                return workers
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(workers)} of {count} Ray worker nodes joined in {timeout_s:g} s"
                )
            time.sleep(2)

    def ensure_secret(self, name: str, value: str | None = None) -> str | None:
        """Create a secret if missing; returns the value when it was created here."""
        try:
            self.client.secrets.get(name)
            return None
        except NotFound:
            value = value or secrets.token_urlsafe(32)
            self.client.secrets.create(name=name, data=value.encode())
            return value


def _describe_node(attrs: dict[str, Any]) -> dict[str, Any]:
    description = attrs.get("Description", {})
    resources = description.get("Resources", {})
    return {
        "id": attrs["ID"][:12],
        "hostname": description.get("Hostname", ""),
        "role": attrs["Spec"]["Role"],
        "availability": attrs["Spec"]["Availability"],
        "state": attrs["Status"]["State"],
        "manager": _manager_status(attrs.get("ManagerStatus")),
        "address": attrs["Status"].get("Addr", ""),
        "engine": description.get("Engine", {}).get("EngineVersion", ""),
        "cpus": resources.get("NanoCPUs", 0) / 1e9,
        "memory_gib": round(resources.get("MemoryBytes", 0) / 2**30, 1),
    }


def _manager_status(status: dict[str, Any] | None) -> str:
    """ "leader", "reachable" or "unreachable" for a manager; empty for a worker."""
    if not status:
        return ""
    return "leader" if status.get("Leader") else str(status.get("Reachability", ""))


def env_dict(items: list[str] | None) -> dict[str, str]:
    """A container spec's ``KEY=VALUE`` list as a dict, order kept."""
    return dict(item.partition("=")[::2] for item in items or [])
