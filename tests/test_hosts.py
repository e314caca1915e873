"""Proof on a swarm of several hosts: a manager and two worker hosts, each a Docker
engine in its own network namespace on this machine (cluster/local-hosts.sh), the image
pulled from a registry on the manager, Ray bound to the hosts' private addresses.

Run alone with ``pytest -m hosts``; the README's test command runs it in its swarm lane.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, distinct_pages
from tests.swarm_support import Stack, background_step, deploy, until

pytestmark = [pytest.mark.swarm, pytest.mark.hosts, pytest.mark.timeout(1800)]

HOSTS = REPO / "cluster" / "local-hosts.sh"
WORKER_HOSTS = 2


@pytest.fixture(scope="module")
def hosts(swarm_env: dict[str, str]) -> Iterator[dict[str, tuple[str, str]]]:
    """The hosts, by name: (address, DOCKER_HOST); the first is the manager."""
    made = _made_hosts(swarm_env)
    assert made.returncode == 0, made.stderr
    found = {}
    for line in made.stdout.splitlines():
        name, address, socket = line.split()
        found[name] = (address, socket)
    try:
        yield found
    finally:
        subprocess.run(["bash", str(HOSTS), "down"], capture_output=True, timeout=300)


def _made_hosts(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """cluster/local-hosts.sh's outcome."""
    command = ["bash", str(HOSTS), "up", str(WORKER_HOSTS)]
    return background_step(command, "hosts", env=env, timeout=900)


@pytest.fixture(scope="module")
def stack(
    hosts: dict[str, tuple[str, str]],
    swarm_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    manager, socket = next(iter(hosts.values()))
    env = dict(swarm_env, DOCKER_HOST=socket)
    inputs = tmp_path_factory.mktemp("hosts-inputs")  # one filesystem: the same on every host
    flags = ("--workers", str(WORKER_HOSTS), "--image", f"{manager}:5000/ocr-ray:latest")
    scaling = {
        "OCR_RAY_FILES_PER_WORKER": "60",
        "OCR_RAY_MAX_REPLICAS": "4",
        "OCR_RAY_SCALE_IDLE_S": "5",
    }
    with deploy(
        env, "ocrh", inputs, *flags, "--job-scaling", api_host=manager, **scaling
    ) as deployed:
        deployed.engines = tuple(socket for _, socket in hosts.values())
        yield deployed


def test_a_job_is_read_on_both_worker_hosts(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    _back_to_both(stack, hosts)  # both worker hosts' Ray nodes joined
    names = [name for name in hosts][1:]
    distinct_pages(stack.inputs / "both", 16)
    job_id = stack.submit("both", auto_scale=False)
    progress = stack.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    records = stack.records(job_id)
    assert Counter(Path(r["path"]).name for r in records) == Counter(
        f"p{i:02d}.png" for i in range(16)
    )
    assert {r["node"] for r in records} == set(names)  # read on the worker hosts, only there

    # One reading once every Ray node is there (a loaded machine may replace one).
    addresses = {address for address, _ in hosts.values()}
    readings: list[dict[str, Any]] = []

    def whole() -> bool:
        readings.append(stack.status())
        ray = readings[-1]["ray_nodes"]
        return not isinstance(ray, str) and {n["ip"] for n in ray} == addresses

    assert until(whole, 120), readings[-1:]
    assert sorted(n["hostname"] for n in readings[-1]["swarm_nodes"]) == sorted(hosts)
    nodes = json.loads(stack.cli("nodes", "--json").stdout)
    assert sorted((n["hostname"], n["role"]) for n in nodes) == [
        (name, "manager" if i == 0 else "worker") for i, name in enumerate(sorted(hosts))
    ]
    # Docker reports stats for its own engine's containers: on each host, that host's.
    on_host = {}
    for name, (_, socket) in hosts.items():
        rows = json.loads(_cli_on(stack, socket, "stats", "--json"))
        on_host[name] = sorted(r["service"].removeprefix(f"{stack.name}_") for r in rows)
        assert all(r["memory_mib"] > 0 for r in rows), rows
    assert on_host == {
        names[0]: ["ray-worker"],
        names[1]: ["ray-worker"],
        next(iter(hosts)): ["api", "ray-head"],
    }


def test_a_worker_host_cut_off_mid_job_loses_nothing(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    """Its link cut while it reads pages: Ray reads them again on the other host, the
    swarm marks the node down, and progress never goes back or past the total."""
    lost = list(hosts)[2]
    _back_to_both(stack, hosts)  # whatever the test before left
    distinct_pages(stack.inputs / "loss", 16)
    job_id = stack.submit("loss", auto_scale=False)
    assert until(lambda: _read_on(stack, job_id, lost) >= 1, 300, 0.5)
    _link(lost, "down")
    try:
        seen = _watch(stack, job_id)
        assert seen[-1]["status"] == "completed" and seen[-1]["succeeded"] == 16
        assert until(lambda: _node_state(stack, lost) == "down", 120)
    finally:
        _link(lost, "up")
    assert _names(stack, job_id) == Counter(f"p{i:02d}.png" for i in range(16))
    _back_to_both(stack, hosts)


def test_remove_node_of_a_worker_host_mid_job_loses_nothing(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    """Drained (its worker moves to the other host), then removed, while a job runs."""
    name, (_, socket) = list(hosts.items())[2]
    _back_to_both(stack, hosts)
    names = distinct_pages(stack.inputs / "removal", 32)
    job_id = stack.submit("removal", auto_scale=False)
    assert until(lambda: _read_on(stack, job_id, name) >= 1, 300, 0.5)
    removed = stack.cli("remove-node", name, "--force", "--wait", "300", timeout=400)
    assert name in removed.stdout
    assert name not in {n["hostname"] for n in stack.status()["swarm_nodes"]}
    progress = _watch(stack, job_id)[-1]
    assert (progress["status"], progress["succeeded"]) == ("completed", 32)
    assert _names(stack, job_id) == Counter(names)
    _docker(socket, "swarm", "leave", "--force")  # the machine's own engine forgets it


def test_a_fresh_host_that_joins_mid_job_reads_pages_of_it(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    """It joins with the command add-node prints; job-size scaling gives it a worker."""
    name, (_, socket) = list(hosts.items())[2]
    if _docker(socket, "info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active":
        stack.cli("remove-node", name, "--force", "--wait", "300", timeout=400)
        _docker(socket, "swarm", "leave", "--force")  # a fresh machine, to the swarm
    # 96 files at 60 per worker: two workers, as there are; long enough (about a page a
    # second here) for the new host's worker to start and join while the job runs.
    names = distinct_pages(stack.inputs / "joins", 96)
    job_id = stack.submit("joins")
    assert until(lambda: stack.progress(job_id)["succeeded"] >= 1, 300, 0.5)
    join = stack.cli("add-node").stdout.strip().splitlines()[-1].split()
    _docker(socket, *join[1:])  # as the operator runs it on the new machine
    progress = _watch(stack, job_id)[-1]
    assert (progress["status"], progress["succeeded"]) == ("completed", 96)
    assert _names(stack, job_id) == Counter(names)
    assert _read_on(stack, job_id, name) >= 1  # the new host read pages of this job
    _back_to_both(stack, hosts)


def test_a_rolling_update_across_hosts_mid_job_loses_nothing(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    distinct_pages(stack.inputs / "rolling", 24)
    job_id = stack.submit("rolling", auto_scale=False)
    assert until(lambda: stack.progress(job_id)["succeeded"] >= 2, 300, 0.5)
    done = stack.cli(
        "update", "--env", "OCR_RAY_MARK=2", "--monitor", "5", "--wait", "300", timeout=400
    )
    assert "completed" in done.stdout
    progress = _watch(stack, job_id)[-1]
    assert (progress["status"], progress["succeeded"]) == ("completed", 24)
    assert _names(stack, job_id) == Counter(f"p{i:02d}.png" for i in range(24))
    _back_to_both(stack, hosts)


def _watch(stack: Stack, job_id: str, timeout: float = 600) -> list[dict[str, Any]]:
    """The job's progress until it ends, each reading truthful: never back, never past
    the total."""
    seen = [stack.progress(job_id)]
    deadline = time.monotonic() + timeout
    while seen[-1]["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {seen[-1]}"
        time.sleep(1)
        now = stack.progress(job_id)
        assert now["succeeded"] >= seen[-1]["succeeded"], (seen[-1], now)
        assert now["current"] <= now["total"] or not now["total"], now
        seen.append(now)
    stack.last_job_end = time.monotonic()
    return seen


def _read_on(stack: Stack, job_id: str, host: str) -> int:
    return sum(r["node"] == host for r in stack.records(job_id))


def _names(stack: Stack, job_id: str) -> Counter[str]:
    return Counter(Path(r["path"]).name for r in stack.records(job_id))


def _node_state(stack: Stack, host: str) -> str:
    return next(n["state"] for n in stack.status()["swarm_nodes"] if n["hostname"] == host)


def _link(host: str, state: str) -> None:
    """The host's side of its veth pair, up or down: a machine unplugged or back."""
    subprocess.run(["ip", "link", "set", host, state], check=True)


def _cli_on(stack: Stack, socket: str, *args: str) -> str:
    """``ocr-ray cluster ARGS`` against the engine at ``socket``."""
    command = [str(REPO / ".venv" / "bin" / "ocr-ray"), "cluster", "--stack", stack.name, *args]
    env = dict(stack.env, DOCKER_HOST=socket)
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def _docker(socket: str, *args: str) -> str:
    done = subprocess.run(
        ["docker", *args], env=dict(os.environ, DOCKER_HOST=socket), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _back_to_both(stack: Stack, hosts: dict[str, tuple[str, str]]) -> None:
    """Every host ready in the swarm and one Ray worker on each worker host (once job
    scaling's scale-down after the last job is over)."""
    workers = set(list(hosts)[1:])
    time.sleep(max(0.0, stack.last_job_end + stack.scale_idle_s + 3 - time.monotonic()))
    readings: list[dict[str, Any]] = []

    def ready() -> bool:
        readings.append(stack.status())
        nodes = readings[-1]["swarm_nodes"]
        return {n["hostname"] for n in nodes if n["state"] == "ready"} == set(hosts)

    def settled() -> bool:
        ray = readings[-1]["ray_nodes"] if ready() else "hosts not ready"
        on = [n["ip"] for n in ray if n["cpus"] > 0] if not isinstance(ray, str) else []
        # Ray calls a replaced worker's node alive until its heartbeats time out, and it
        # had its host's address: Swarm's placement says where the workers are now.
        placed = stack.docker(
            "service",
            "ps",
            f"{stack.name}_ray-worker",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ).split("\n")
        running = sorted(line.split()[0] for line in placed if " Running " in f"{line} ")
        return sorted(on) == sorted(hosts[w][0] for w in workers) and running == sorted(workers)

    # A host whose link came back can take a minute to be ready again; a restart before
    # then would put both workers on the other host once more.
    assert until(ready, 300), readings[-1:]
    stack.cli("scale", str(len(workers)))
    for _ in range(2):
        if until(settled, 60):
            return
        # Swarm moves no running task back to a returned host: a rolling restart places
        # each new task on the host with the fewest.
        stack.cli("restart", "ray-worker", "--monitor", "5", "--wait", "300", timeout=400)
    assert until(settled, 300), readings[-1:]


def test_the_head_killed_mid_job_comes_back_and_the_job_completes(
    stack: Stack, hosts: dict[str, tuple[str, str]]
) -> None:
    """Swarm restarts the head's container; the job, its state in the store, completes
    through the API with every file once, and both worker hosts' Ray nodes are back
    with the new head."""
    distinct_pages(stack.inputs / "headless", 16)
    job_id = stack.submit("headless", auto_scale=False)
    assert until(lambda: stack.progress(job_id)["succeeded"] >= 2, 300, 0.5)
    label = f"label=com.docker.swarm.service.name={stack.name}_ray-head"
    [head] = stack.docker("ps", "-q", "--filter", label).split()
    stack.docker("kill", head)
    progress = stack.wait_job(job_id, timeout=900)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    assert _names(stack, job_id) == Counter(f"p{i:02d}.png" for i in range(16))
    assert stack.docker("ps", "-q", "--filter", label).split() != [head]
    _back_to_both(stack, hosts)
