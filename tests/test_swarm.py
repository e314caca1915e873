"""Proof on a real Docker Swarm: one shared stack for deploy, API jobs on worker nodes,
job-size scaling, faults, drain and restore, and the operator's verbs.

Run alone with ``pytest -m swarm``. Every test starts from the same baseline (the
``ocrt`` fixture: node active, one worker, every service healthy), whatever ran
before it, so the tests run alone or in any order.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import distinct_pages
from tests.serve_process import free_port
from tests.swarm_support import (
    OCR_RAY,
    Stack,
    deploy,
    non_worker_ids,
    until,
    worker_ids,
)

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(1800)]  # first image build included


@pytest.fixture(scope="module")
def stack(swarm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    inputs = tmp_path_factory.mktemp("swarm-inputs")
    settings = {
        "OCR_RAY_FILES_PER_WORKER": "8",
        "OCR_RAY_MAX_REPLICAS": "2",
        "OCR_RAY_SCALE_IDLE_S": "5",
    }
    # Job state in the stack's own MongoDB service (its test-time server), shared by
    # two API nodes: the job runner may move from one to the other.
    store = ("--store", "mongodb", "--test-store", "--api-nodes", "2")
    with deploy(
        swarm_env, "ocrt", inputs, "--workers", "1", "--job-scaling", *store, **settings
    ) as deployed:
        yield deployed


@pytest.fixture
def ocrt(stack: Stack) -> Stack:
    """The shared stack, brought to its baseline before the test."""
    stack.baseline()
    return stack


def test_status_shows_the_head_the_api_and_the_workers(ocrt: Stack) -> None:
    # Right after a deploy a Ray node may be replaced once: judge one reading, taken
    # once every node is there: the head and two API nodes with no CPUs for tasks, and
    # one worker.
    expected = [(False, False, True), (False, True, False), (False, True, False)]
    expected.append((True, False, False))
    readings: list[dict[str, Any]] = []

    def whole() -> bool:
        readings.append(ocrt.status())
        nodes = readings[-1]["ray_nodes"]
        if isinstance(nodes, str):  # "unavailable: ..." while the head restarts
            return False
        return sorted((n["head"], n["api"], n["cpus"] > 0) for n in nodes) == expected

    assert until(whole, 300), readings[-1:]
    status = readings[-1]
    assert status["swarm_nodes"][0]["role"] == "manager"
    assert "ocr-ray cluster dashboard" in status["dashboard"]


def test_the_dashboard_is_reached_through_the_head_container(ocrt: Stack) -> None:
    port = free_port()
    tunnel = subprocess.Popen(
        [OCR_RAY, "cluster", "--stack", ocrt.name, "dashboard", "--port", str(port)],
        env=ocrt.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert tunnel.stdout is not None
        said = [tunnel.stdout.readline() for _ in range(4)]
        assert (
            said[0].strip()
            == f"Ray's dashboard: http://127.0.0.1:{port}/ (through the head container)"
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            page = http.get("/")
            assert page.status_code == 200 and "<title>Ray Dashboard</title>" in page.text
            assert http.get("/").status_code == 200  # a second request, kept alive
    finally:
        tunnel.send_signal(signal.SIGINT)
        tunnel.wait(timeout=30)
    assert tunnel.returncode == 0


def test_a_job_runs_on_worker_nodes_and_scales_with_its_size(ocrt: Stack) -> None:
    distinct_pages(ocrt.inputs / "sixteen", 16)
    job_id = ocrt.submit("sixteen")
    assert until(lambda: ocrt.worker_replicas()[1] == 2, 120)  # 16 files / 8 per worker
    progress = ocrt.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    records = ocrt.records(job_id)
    assert Counter(Path(r["path"]).name for r in records) == Counter(
        f"p{i:02d}.png" for i in range(16)
    )
    # Nothing ran on the head or the API node. (Not "only on the workers alive now": the
    # first scale-up may replace a running worker, whose pages Ray then reads again.)
    read_on = {r["node_id"] for r in records}
    assert None not in read_on and not read_on & non_worker_ids(ocrt)
    assert until(lambda: ocrt.worker_replicas()[1] == 1, 180)  # back after the idle period


def test_a_job_that_declines_scaling_runs_on_the_workers_already_up(ocrt: Stack) -> None:
    distinct_pages(ocrt.inputs / "nine", 9)  # over 8 per worker: scaling would add one
    job_id = ocrt.submit("nine", use_swarm=True, auto_scale=False)
    replicas, deadline = set(), time.monotonic() + 600
    while ocrt.progress(job_id)["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job_id} did not finish"
        replicas.add(ocrt.worker_replicas()[1])
    assert ocrt.progress(job_id)["succeeded"] == 9 and replicas == {1}


def test_scale_up_to_three_then_down_to_one_during_a_job(ocrt: Stack) -> None:
    ocrt.cli("scale", "3", "--wait", "300", timeout=400)
    assert len(worker_ids(ocrt)) >= 3
    distinct_pages(ocrt.inputs / "scale", 24)
    job_id = ocrt.submit("scale")
    assert until(lambda: ocrt.progress(job_id)["succeeded"] >= 4, 300, 0.5)
    ocrt.cli("scale", "1")
    progress = ocrt.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["failed"]) == ("completed", 24, 0)
    names = Counter(Path(r["path"]).name for r in ocrt.records(job_id))
    assert names == Counter(f"p{i:02d}.png" for i in range(24))
    assert until(lambda: ocrt.worker_replicas() == (1, 1), 180)


def test_a_dead_worker_and_a_dead_api_node_lose_nothing(ocrt: Stack) -> None:
    """A worker container and the API node running the job's coordinator are killed at
    once: swarm replaces both, the other API node takes the job over, Ray reads the lost
    pages again, and every file is recorded once."""
    distinct_pages(ocrt.inputs / "kill", 16)
    job_id = ocrt.submit("kill", auto_scale=False)
    with ocrt.http() as http:  # wrong keys until the lockout that the store keeps
        wrong = {"Authorization": "Bearer ocr_wrongwrongwrong"}
        codes = [http.get("/api/me", headers=wrong).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and 429 in codes[5:]
    assert until(lambda: ocrt.progress(job_id)["succeeded"] >= 2, 300, 0.5)
    worker = _worker_containers(ocrt)[0]
    [api] = _api_containers(ocrt, running="JobRunner")
    ocrt.docker("kill", worker, api)
    progress = ocrt.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    names = Counter(Path(r["path"]).name for r in ocrt.records(job_id))
    assert names == Counter(f"p{i:02d}.png" for i in range(16))
    replaced = _worker_containers(ocrt)
    assert replaced and worker not in replaced  # swarm started a new container
    assert _api_containers(ocrt, running="JobRunner") != [api]  # the runner moved
    with ocrt.http() as http:
        # The count went on in the store: one more wrong key is locked out at once
        # (a count kept in a replica's memory would have started again).
        again = [http.get("/api/me", headers=wrong).status_code for _ in range(2)]
        assert again == [401, 429]


def test_a_job_sent_through_one_api_replica_is_seen_cancelled_and_read_through_the_other(
    ocrt: Stack,
) -> None:
    """Each API node runs one Serve replica of the API; which one answered a request is
    read from its own log (the request's ``x-request-id``). A node's proxy mostly, not
    always, hands a request to its own replica, so a cancel that reached the submit's
    replica after all is tried again on a new job."""
    distinct_pages(ocrt.inputs / "across", 16, "d027")
    # A language each: the cache would finish a repeat of the same job at once.
    for language in ("eng", "deu", "fra", "ita"):
        body = {"folder_path": "/data/inputs/across", "auto_scale": False, "languages": [language]}
        with _connection(ocrt) as (http, _):  # its proxy may pass it to another replica
            submitted = http.post("/api/bulk/process", json=body)
            assert submitted.status_code == 202
        first = _replica(ocrt, submitted)
        job_id = submitted.json()["job_id"]
        with _connection(ocrt, other_than=first) as (http, _):
            cancelled = http.post(f"/api/bulk/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200
        assert ocrt.wait_job(job_id)["status"] == "cancelled"
        if _replica(ocrt, cancelled) != first:
            break
    else:
        raise AssertionError("every cancel reached the replica that took the submit")
    seen = _answered_by_another(ocrt, first, f"/api/bulk/progress/{job_id}")
    assert seen.json()["status"] == "cancelled"
    results = _answered_by_another(
        ocrt, first, f"/api/bulk/results/{job_id}", params={"format": "jsonl"}
    )
    assert len(results.text.splitlines()) == 16  # every file once: read or skipped


def test_drain_and_restore_the_node(ocrt: Stack) -> None:
    node = ocrt.status()["swarm_nodes"][0]["hostname"]
    drained = ocrt.cli("drain", node, "--wait", "180", timeout=240)
    assert "safe for maintenance" in drained.stdout
    assert ocrt.status()["swarm_nodes"][0]["availability"] == "drain"
    label = f"label=com.docker.stack.namespace={ocrt.name}"
    assert ocrt.docker("ps", "-q", "--filter", label).strip() == ""  # really stopped
    # As if job scaling had two workers up when the API went down: the API's next life
    # has no timer to scale them back, so it must settle the count itself.
    ocrt.cli("scale", "2")
    ocrt.cli("restore", node)
    assert until(lambda: ocrt.status()["services"] == ocrt.services(), 300)
    assert until(lambda: httpx.get(f"{ocrt.url}/ready", timeout=5).status_code == 200, 300)
    assert until(lambda: len(worker_ids(ocrt)) >= 1, 300)
    distinct_pages(ocrt.inputs / "after", 2)
    assert ocrt.wait_job(ocrt.submit("after"))["succeeded"] == 2


def test_nodes_lists_the_manager_and_add_node_prints_a_working_join_command(ocrt: Stack) -> None:
    nodes = json.loads(ocrt.cli("nodes", "--json").stdout)
    assert [(n["role"], n["manager"], n["availability"], n["state"]) for n in nodes] == [
        ("manager", "leader", "active", "ready")
    ]
    assert nodes[0]["cpus"] > 0 and nodes[0]["memory_gib"] > 0
    table = ocrt.cli("nodes").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "hostname", "role"] and nodes[0]["id"] in table[1]
    printed = ocrt.cli("add-node").stdout.strip().splitlines()[-1]
    token = ocrt.docker("swarm", "join-token", "-q", "worker").strip()
    assert re.fullmatch(r"docker swarm join --token SWMTKN-\S+ [\d.]+:2377", printed), printed
    assert printed.split()[4] == token
    manager = ocrt.cli("add-node", "--manager").stdout.strip().splitlines()[-1]
    assert manager.split()[4] == ocrt.docker("swarm", "join-token", "-q", "manager").strip()


def test_remove_node_refuses_the_last_manager_and_unknown_nodes(ocrt: Stack) -> None:
    node = ocrt.status()["swarm_nodes"][0]["hostname"]
    refused = _cli_fails(ocrt, "remove-node", node)
    assert refused.returncode == 2 and "last manager" in refused.stderr
    assert ocrt.status()["swarm_nodes"][0]["availability"] == "active"  # not even drained
    unknown = _cli_fails(ocrt, "remove-node", "no-such-node")
    assert unknown.returncode == 2 and "no swarm node 'no-such-node'" in unknown.stderr


def test_stats_reports_each_container_with_its_ray_node(ocrt: Stack) -> None:
    rows = json.loads(ocrt.cli("stats", "--json").stdout)
    by_service = {r["service"]: r for r in rows}
    assert sorted(by_service) == sorted(ocrt.services())
    assert all(r["memory_mib"] > 0 and r["memory_limit_mib"] > 0 for r in rows)
    ray_nodes = ocrt.status()["ray_nodes"]
    head = next(n["id"] for n in ray_nodes if n["head"])
    assert by_service[f"{ocrt.name}_ray-head"]["ray_node"] == head
    assert by_service[f"{ocrt.name}_ray-worker"]["ray_node"] in worker_ids(ocrt)
    apis = {r["ray_node"] for r in rows if r["service"] == f"{ocrt.name}_api"}
    assert apis == {n["id"] for n in ray_nodes if n["api"]} and len(apis) == 2


def test_restart_replaces_the_workers_one_at_a_time(ocrt: Stack) -> None:
    before = _worker_containers(ocrt)
    done = ocrt.cli("restart", "ray-worker", "--monitor", "5", "--wait", "300", timeout=400)
    assert "completed" in done.stdout
    assert until(lambda: len(worker_ids(ocrt)) == 1, 300)
    after = _worker_containers(ocrt)
    assert len(after) == 1 and not set(after) & set(before)


def test_update_rolls_out_env_and_limits_and_rolls_back_a_bad_image(ocrt: Stack) -> None:
    done = ocrt.cli(
        "update", "--env", "OCR_RAY_MARK=1", "--limit-memory", "3G", "--limit-cpus", "1.5",
        "--monitor", "5", "--wait", "300", timeout=400,
    )  # fmt: skip
    assert "completed" in done.stdout
    spec = _worker_spec(ocrt)
    assert "OCR_RAY_MARK=1" in spec["ContainerSpec"]["Env"]
    assert spec["Resources"]["Limits"] == {"NanoCPUs": 1_500_000_000, "MemoryBytes": 3 * 2**30}
    image = spec["ContainerSpec"]["Image"]
    bad = _cli_fails(ocrt, "update", "--image", "ocr-ray:no-such-tag", "--monitor", "5")
    assert bad.returncode == 5 and "rollback_completed" in bad.stdout, bad.stdout + bad.stderr
    assert _worker_spec(ocrt)["ContainerSpec"]["Image"] == image
    assert until(lambda: len(worker_ids(ocrt)) == 1, 300)
    distinct_pages(ocrt.inputs / "rolled", 2)
    assert ocrt.wait_job(ocrt.submit("rolled"))["succeeded"] == 2


def _cli_fails(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        stack.cli(*args, timeout=400)
    except subprocess.CalledProcessError as exc:
        return subprocess.CompletedProcess(exc.cmd, exc.returncode, exc.stdout, exc.stderr)
    raise AssertionError(f"ocr-ray cluster {' '.join(args)} succeeded")


def _api_containers(stack: Stack, running: str) -> list[str]:
    """The API containers with a process whose command line has ``running`` (on a host
    network every API node has the same address, so Ray's view cannot tell them apart)."""
    label = f"label=com.docker.swarm.service.name={stack.name}_api"
    found = []
    for container in stack.docker("ps", "-q", "--filter", label).split():
        listed = subprocess.run(
            ["docker", "exec", container, "pgrep", "-f", running],
            env=stack.env,
            capture_output=True,
        )
        if listed.returncode == 0:
            found.append(container)
    return found


@contextlib.contextmanager
def _connection(
    stack: Stack, other_than: tuple[str, str] | None = None
) -> Iterator[tuple[httpx.Client, tuple[str, str]]]:
    """A kept-alive connection to the API and the replica that answers on it (the
    node's own: Serve's proxies prefer it), other than ``other_than``. The API nodes
    share one port, so each new connection lands on either node."""
    for _ in range(40):
        with stack.http() as http:
            replica = _replica(stack, http.get("/api/me").raise_for_status())
            if replica != other_than:
                yield http, replica
                return
    raise AssertionError(f"every connection reached the API replica {other_than}")


def _answered_by_another(
    stack: Stack, replica: tuple[str, str], route: str, **options: Any
) -> httpx.Response:
    """A GET of ``route`` that a replica other than ``replica`` answered."""
    for _ in range(40):
        with stack.http() as http:
            response = http.get(route, **options).raise_for_status()
        if _replica(stack, response) != replica:
            return response
    raise AssertionError(f"every GET {route} reached the API replica {replica}")


def _replica(stack: Stack, response: httpx.Response) -> tuple[str, str]:
    """(API container, Serve replica log) of the replica that logged the response's
    request."""
    request_id = response.headers["x-request-id"]
    found: list[tuple[str, str]] = []

    def logged() -> bool:
        for container in _api_containers(stack, running="raylet"):
            listed = subprocess.run(
                ["docker", "exec", container, "grep", "-rlF", "--include=replica_*", request_id,
                 "/tmp/ray/session_latest/logs/serve"],
                env=stack.env, capture_output=True, text=True,
            )  # fmt: skip
            found.extend((container, Path(log).name) for log in listed.stdout.split())
        return bool(found)

    assert until(logged, 20, 0.5), f"no API replica logged request {request_id}"
    [replica] = found
    return replica


def _worker_containers(stack: Stack) -> list[str]:
    label = f"label=com.docker.swarm.service.name={stack.name}_ray-worker"
    return stack.docker("ps", "-q", "--filter", label).split()


def _worker_spec(stack: Stack) -> dict[str, Any]:
    service = json.loads(stack.docker("service", "inspect", f"{stack.name}_ray-worker"))[0]
    return dict(service["Spec"]["TaskTemplate"])
