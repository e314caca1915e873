"""A Ray autoscaler node provider for Docker Swarm (``provider: type: external``).

Each autoscaled Ray worker is its own one-replica swarm service. The autoscaler only
terminates nodes it has seen idle for ``idle_timeout_minutes``, and terminating removes
exactly that node's service, so scale-down never stops a node in the middle of a task
(scaling one shared service down would let swarm pick the victim).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import uuid
from typing import Any

from ray.autoscaler.node_provider import NodeProvider
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)
from ray.util import get_node_ip_address

from cluster.settings import get_cluster_settings

_TAGS_LABEL = "ocr-ray.tags"
_RAY_PRIVATE = os.path.join("autoscaler", "_private")
_IP_LABEL = "ocr-ray.ip"


class SwarmNodeProvider(NodeProvider):
    """Creates and removes worker services; the head node is the stack's own."""

    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        super().__init__(provider_config, cluster_name)
        self._docker = _docker_sdk()
        self._client = self._docker.from_env()
        self._settings = get_cluster_settings()
        self._stack = self._settings.stack_name
        self._lock = threading.Lock()
        # The head is the stack's own service; the autoscaler must see it, never remove it.
        self._head = f"{self._stack}_ray-head"
        self._head_tags = {
            TAG_RAY_NODE_KIND: NODE_KIND_HEAD,
            TAG_RAY_USER_NODE_TYPE: "head",  # head_node_type in cluster/autoscaler.yaml
            TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
        }

    # Queries ------------------------------------------------------------------------
    def non_terminated_nodes(self, tag_filters: dict[str, str]) -> list[str]:
        found = []
        if all(self._head_tags.get(k) == v for k, v in tag_filters.items()):
            found.append(self._head)
        for service in self._services():
            tags = self._tags(service)
            if all(tags.get(k) == v for k, v in tag_filters.items()):
                found.append(service.name)
        return found

    def is_running(self, node_id: str) -> bool:
        return node_id == self._head or self._service(node_id) is not None

    def is_terminated(self, node_id: str) -> bool:
        return node_id != self._head and self._service(node_id) is None

    def node_tags(self, node_id: str) -> dict[str, str]:
        if node_id == self._head:
            return dict(self._head_tags)
        service = self._service(node_id)
        return self._tags(service) if service else {}

    def internal_ip(self, node_id: str) -> str:
        if node_id == self._head:
            return str(get_node_ip_address())  # the provider runs on the head
        service = self._service(node_id)
        labels = service.attrs["Spec"]["Labels"] if service else {}
        return str(labels.get(_IP_LABEL, ""))

    def external_ip(self, node_id: str) -> str:
        return self.internal_ip(node_id)

    # Changes ------------------------------------------------------------------------
    def create_node(self, node_config: dict[str, Any], tags: dict[str, str], count: int) -> None:
        with self._lock:
            for _ in range(count):
                self._create_one(
                    node_config, dict(tags, **{TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE})
                )

    def set_node_tags(self, node_id: str, tags: dict[str, str]) -> None:
        if node_id == self._head:
            self._head_tags.update(tags)
            return
        with self._lock:
            service = self._service(node_id)
            if service is None:
                return
            spec = service.attrs["Spec"]
            labels = dict(
                spec["Labels"], **{_TAGS_LABEL: json.dumps(dict(self._tags(service), **tags))}
            )
            service.update(labels=labels)

    def terminate_node(self, node_id: str) -> None:
        if node_id == self._head:
            return
        with self._lock:
            service = self._service(node_id)
            if service is not None:
                service.remove()

    # Helpers ------------------------------------------------------------------------
    def _create_one(self, node_config: dict[str, Any], tags: dict[str, str]) -> None:
        name = f"{self._stack}_ray-auto-{uuid.uuid4().hex[:8]}"
        ip = self._next_ip()
        env = dict(
            node_config.get("env", {}),
            OCR_RAY_HEAD_HOST=self._settings.head_host,
        )
        if ip:
            env["OCR_RAY_NODE_IP"] = ip
        inputs = self._settings.input_dir
        self._client.services.create(
            image=node_config.get("image", "ocr-ray:latest"),
            args=["worker"],
            name=name,
            env=[f"{k}={v}" for k, v in env.items()],
            labels={
                "ocr-ray.stack": self._stack,
                "ocr-ray.cluster": self.cluster_name,
                _TAGS_LABEL: json.dumps(tags),
                _IP_LABEL: ip,
            },
            networks=[self._settings.worker_network or f"{self._stack}_ocr"],
            mounts=[f"{inputs}:/data/inputs:ro"] if inputs else [],
            secrets=self._secrets(node_config.get("secrets", [])),
            stop_grace_period=30 * 10**9,
        )

    def _next_ip(self) -> str:
        """On a shared host network each autoscaled node gets its own loopback address."""
        prefix = self._settings.loopback_prefix
        if not prefix:
            return ""
        used = {s.attrs["Spec"]["Labels"].get(_IP_LABEL) for s in self._services()}
        return next(f"{prefix}.{i}" for i in range(1, 255) if f"{prefix}.{i}" not in used)

    def _secrets(self, names: list[str]) -> list[Any]:
        refs = []
        for name in names:  # stack-scoped secret, mounted under its short name
            secret = self._client.secrets.get(f"{self._stack}_{name}")
            refs.append(self._docker.types.SecretReference(secret.id, secret.name, filename=name))
        return refs

    def _services(self) -> list[Any]:
        labels = [f"ocr-ray.cluster={self.cluster_name}", f"ocr-ray.stack={self._stack}"]
        return list(self._client.services.list(filters={"label": labels}))

    def _service(self, node_id: str) -> Any:
        try:
            return self._client.services.get(node_id)
        except self._docker.errors.NotFound:
            return None

    @staticmethod
    def _tags(service: Any) -> dict[str, str]:
        raw = service.attrs["Spec"]["Labels"].get(_TAGS_LABEL, "{}")
        return dict(json.loads(raw))


def _docker_sdk() -> Any:
    """The docker SDK. Ray's monitor runs with its own folder first on sys.path, and that
    folder holds a docker.py of Ray's, which a plain ``import docker`` would find."""
    if not hasattr(sys.modules.get("docker"), "from_env"):
        sys.modules.pop("docker", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if not p.rstrip(os.sep).endswith(_RAY_PRIVATE)]
    try:
        return importlib.import_module("docker")
    finally:
        sys.path[:] = saved


__all__ = ["TAG_RAY_NODE_KIND", "SwarmNodeProvider"]
