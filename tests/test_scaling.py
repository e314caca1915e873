"""Job-size scaling arithmetic and the stack rewrite for a single host network."""

from __future__ import annotations

import pytest

from cluster.scaling import plan_replicas
from cluster.stack import host_network, load_stack, on_worker_nodes, store_url, with_test_store


@pytest.mark.parametrize(
    ("files", "nodes", "per_worker", "cap", "expected"),
    [
        (0, 3, 200, 8, 1),  # never fewer than one worker
        (150, 3, 200, 8, 1),
        (401, 3, 200, 8, 3),
        (5000, 3, 200, 8, 6),  # capped at twice the swarm's nodes
        (5000, 10, 200, 8, 8),  # capped at the configured maximum
        (16, 1, 8, 2, 2),
    ],
)
def test_plan_replicas(files: int, nodes: int, per_worker: int, cap: int, expected: int) -> None:
    assert (
        plan_replicas(files, swarm_nodes=nodes, files_per_worker=per_worker, max_replicas=cap)
        == expected
    )


def test_only_the_api_port_is_published_and_ray_ports_stay_inside() -> None:
    stack = load_stack()
    published = {name: svc.get("ports", []) for name, svc in stack["services"].items()}
    assert [p["target"] for p in published.pop("api")] == [8000]
    assert all(not ports for ports in published.values())
    assert stack["networks"]["ocr"]["driver"] == "overlay"
    assert stack["services"]["ray-worker"]["environment"]["OMP_THREAD_LIMIT"] == "1"


def test_host_network_rewrite_keeps_everything_on_loopback() -> None:
    local = host_network(load_stack(), docker_socket="/run/x.sock", api_port=8123, store_port=9)
    for name, service in local["services"].items():
        assert service["networks"] == ["hostnet"] and "ports" not in service
        env = service["environment"]
        assert env["OCR_RAY_HEAD_HOST"] == env["OCR_RAY_DASHBOARD_HOST"] == "127.0.0.1", name
        assert "reservations" not in service["deploy"].get("resources", {})
    assert (
        local["services"]["ray-worker"]["environment"]["OCR_RAY_NODE_IP"]
        == "127.0.1.{{.Task.Slot}}"
    )
    assert "/run/x.sock:/var/run/docker.sock" in local["services"]["api"]["volumes"]
    store = with_test_store(local)["services"]["mongodb"]  # the test-time server, on loopback
    assert (store["image"], store["command"]) == (local["services"]["api"]["image"], ["store-test"])
    assert store["environment"]["OCR_RAY_MONGO_PORT"] == "9"
    assert store_url(host_network="127.0.0.1", test_store=True, store_port=9) == (
        "mongodb://127.0.0.1:9/ocr_ray?directConnection=true"
    )


def test_across_hosts_ray_binds_the_private_network_and_workers_leave_the_managers() -> None:
    hosts = host_network(
        load_stack(), docker_socket="/run/x.sock", api_port=8123, store_port=9,
        address="10.77.0.10",
    )  # fmt: skip
    services = on_worker_nodes(hosts)["services"]
    env = {name: service["environment"] for name, service in services.items()}
    assert {e["OCR_RAY_HEAD_HOST"] for e in env.values()} == {"10.77.0.10"}
    assert env["ray-head"]["OCR_RAY_NODE_IP"] == "10.77.0.10"
    # Every other node's Ray takes its own host's address; the API listens on its host.
    assert "OCR_RAY_NODE_IP" not in env["ray-worker"] and "OCR_RAY_NODE_IP" not in env["api"]
    assert env["api"]["OCR_RAY_API_HOST"] == "0.0.0.0"
    assert "OCR_RAY_LOOPBACK_PREFIX" not in env["ray-head"]
    assert services["ray-worker"]["deploy"]["placement"]["constraints"] == ["node.role == worker"]
    assert services["api"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert all("ports" not in service for service in services.values())
