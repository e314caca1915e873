"""Proof on a real Docker Swarm: deploy, API jobs on worker nodes, scaling, faults.

Run alone with ``pytest -m swarm``. The fixture prepares a single-node swarm with
cluster/prepare-local-swarm.sh (engine, base image, image build); the tests are skipped
only when no Docker engine can start on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, _free_port, distinct_pages

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(1800)]  # first image build included
OCR_RAY = str(REPO / ".venv" / "bin" / "ocr-ray")


class _CliFailed(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr[-2000:]}"


@dataclass
class Stack:
    name: str
    env: dict[str, str]
    url: str
    token: str
    inputs: Path

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [OCR_RAY, "cluster", "--stack", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise _CliFailed(done.returncode, done.args, done.stdout, done.stderr)
        return done

    def docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.cli("status").stdout))

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def submit(self, folder: str) -> str:
        with self.http() as http:
            response = http.post(
                "/api/bulk/process", json={"folder_path": f"/data/inputs/{folder}"}
            )
            assert response.status_code == 202, response.text
            return str(response.json()["job_id"])

    def progress(self, job_id: str) -> dict[str, Any]:
        with self.http() as http:
            return dict(http.get(f"/api/bulk/progress/{job_id}").raise_for_status().json())

    def wait_job(self, job_id: str, timeout: float = 600) -> dict[str, Any]:
        ok = until(
            lambda: self.progress(job_id)["status"] in ("completed", "failed", "cancelled"), timeout
        )
        assert ok, f"job {job_id} did not finish: {self.progress(job_id)}"
        return self.progress(job_id)

    def records(self, job_id: str) -> list[dict[str, Any]]:
        with self.http() as http:
            response = http.get(f"/api/bulk/results/{job_id}", params={"format": "jsonl"})
            return [json.loads(line) for line in response.raise_for_status().text.splitlines()]

    def worker_replicas(self) -> tuple[int, int]:
        services = self.status()["services"]
        worker = services[f"{self.name}_ray-worker"]
        return worker["running"], worker["desired"]


def until(predicate: Callable[[], bool], timeout: float, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (httpx.HTTPError, subprocess.CalledProcessError, KeyError):
            pass  # services restarting
        time.sleep(interval)
    return False


@pytest.fixture(scope="module")
def swarm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not shutil.which("dockerd") or not shutil.which("docker"):
        pytest.skip("no Docker engine installed (scripts/setup.sh --dev installs docker.io)")
    prepared = subprocess.run(
        ["bash", str(REPO / "cluster" / "prepare-local-swarm.sh")],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    host = next(
        (
            line.split("=", 1)[1]
            for line in prepared.stdout.splitlines()
            if line.startswith("DOCKER_HOST=")
        ),
        None,
    )
    env = dict(
        os.environ, DOCKER_HOST=host or "", OCR_RAY_HOME=str(tmp_path_factory.mktemp("swarm-home"))
    )
    if prepared.returncode != 0:
        engine = subprocess.run(["docker", "info"], env=env, capture_output=True)
        if engine.returncode != 0:
            pytest.skip(f"no Docker engine could start here: {prepared.stderr[-500:]}")
        raise AssertionError(f"preparing the swarm failed:\n{prepared.stderr[-3000:]}")
    return env


@contextlib.contextmanager
def deploy(
    env: dict[str, str], name: str, inputs: Path, *flags: str, **settings: str
) -> Iterator[Stack]:
    env = dict(env, **settings)
    port = _free_port()
    stack = Stack(name, env, f"http://127.0.0.1:{port}", "", inputs)
    _remove(stack)
    stack.cli("deploy", "--host-network", "--inputs", str(inputs), "--api-port", str(port), *flags)
    stack.token = (Path(env["OCR_RAY_HOME"]) / f"{name}_api_token").read_text().strip()
    assert until(lambda: httpx.get(f"{stack.url}/ready", timeout=5).status_code == 200, 300), (
        stack.cli("logs", "api", "--tail", "50").stdout
    )
    try:
        yield stack
    finally:
        _remove(stack)


def _remove(stack: Stack) -> None:
    subprocess.run(
        [OCR_RAY, "cluster", "--stack", stack.name, "remove"], env=stack.env, capture_output=True
    )
    label = f"label=com.docker.stack.namespace={stack.name}"
    until(lambda: not stack.docker("ps", "-q", "--filter", label).strip(), 120)
    for secret in ("api_token", "ray_auth_token"):
        subprocess.run(
            ["docker", "secret", "rm", f"{stack.name}_{secret}"], env=stack.env, capture_output=True
        )


@pytest.fixture(scope="module")
def stack(swarm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    inputs = tmp_path_factory.mktemp("swarm-inputs")
    settings = {
        "OCR_RAY_FILES_PER_WORKER": "8",
        "OCR_RAY_MAX_REPLICAS": "2",
        "OCR_RAY_SCALE_IDLE_S": "20",
    }
    with deploy(
        swarm_env, "ocrt", inputs, "--workers", "1", "--job-scaling", **settings
    ) as deployed:
        yield deployed


_ONE_EACH = {
    f"ocrt_{role}": {"running": 1, "desired": 1} for role in ("ray-head", "ray-worker", "api")
}


def _worker_ids(stack: Stack) -> set[str]:
    nodes = stack.status()["ray_nodes"]
    if isinstance(nodes, str):  # "unavailable: ..." while the head restarts
        return set()
    return {n["id"] for n in nodes if n["cpus"] > 0}


def test_status_shows_the_head_the_api_and_the_workers(stack: Stack) -> None:
    # A task with a health check counts as running once its first check passed.
    assert until(lambda: stack.status()["services"] == _ONE_EACH, 180)
    assert until(lambda: len(_worker_ids(stack)) == 1, 180)
    status = stack.status()
    heads = [n for n in status["ray_nodes"] if n["head"]]
    assert len(heads) == 1 and heads[0]["cpus"] == 0
    assert len(status["ray_nodes"]) == 3  # head, api node (0 CPUs), one worker
    assert status["swarm_nodes"][0]["role"] == "manager"


def test_a_job_runs_on_worker_nodes_and_scales_with_its_size(stack: Stack) -> None:
    distinct_pages(stack.inputs / "sixteen", 16)
    job_id = stack.submit("sixteen")
    assert until(lambda: stack.worker_replicas()[1] == 2, 120)  # 16 files / 8 per worker
    progress = stack.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    records = stack.records(job_id)
    assert Counter(Path(r["path"]).name for r in records) == Counter(
        f"p{i:02d}.png" for i in range(16)
    )
    workers = _worker_ids(stack)
    assert {r["node_id"] for r in records} <= workers  # nothing ran on the head or the API node
    assert until(lambda: stack.worker_replicas()[1] == 1, 180)  # back after the idle period


def test_scale_up_to_three_then_down_to_one_during_a_job(stack: Stack) -> None:
    stack.cli("scale", "3", "--wait", "300", timeout=400)
    assert len(_worker_ids(stack)) >= 3
    distinct_pages(stack.inputs / "scale", 24)
    job_id = stack.submit("scale")
    assert until(lambda: stack.progress(job_id)["succeeded"] >= 4, 300, 0.5)
    stack.cli("scale", "1")
    progress = stack.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["failed"]) == ("completed", 24, 0)
    names = Counter(Path(r["path"]).name for r in stack.records(job_id))
    assert names == Counter(f"p{i:02d}.png" for i in range(24))
    assert until(lambda: stack.worker_replicas() == (1, 1), 180)


def test_a_killed_worker_container_is_restarted_and_nothing_is_lost(stack: Stack) -> None:
    assert until(lambda: len(_worker_ids(stack)) >= 1, 180)
    distinct_pages(stack.inputs / "kill", 16)
    job_id = stack.submit("kill")
    assert until(lambda: stack.progress(job_id)["succeeded"] >= 2, 300, 0.5)
    label = "label=com.docker.swarm.service.name=ocrt_ray-worker"
    victim = stack.docker("ps", "-q", "--filter", label).split()[0]
    stack.docker("kill", victim)
    progress = stack.wait_job(job_id)
    assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 16, 16)
    names = Counter(Path(r["path"]).name for r in stack.records(job_id))
    assert names == Counter(f"p{i:02d}.png" for i in range(16))
    replaced = stack.docker("ps", "-q", "--filter", label).split()
    assert replaced and victim not in replaced  # swarm started a new container


def test_drain_and_restore_the_node(stack: Stack) -> None:
    node = stack.status()["swarm_nodes"][0]["hostname"]
    drained = stack.cli("drain", node, "--wait", "180", timeout=240)
    assert "safe for maintenance" in drained.stdout
    assert stack.status()["swarm_nodes"][0]["availability"] == "drain"
    label = f"label=com.docker.stack.namespace={stack.name}"
    assert stack.docker("ps", "-q", "--filter", label).strip() == ""  # really stopped
    stack.cli("restore", node)
    # Job scaling had 2 workers for the previous job; the restarted API scales them back.
    assert until(lambda: stack.status()["services"] == _ONE_EACH, 300), stack.status()
    assert until(lambda: httpx.get(f"{stack.url}/ready", timeout=5).status_code == 200, 300)
    assert until(lambda: len(_worker_ids(stack)) >= 1, 300)
    distinct_pages(stack.inputs / "after", 2)
    assert stack.wait_job(stack.submit("after"))["succeeded"] == 2


def test_the_autoscaler_adds_workers_for_pending_tasks_and_removes_idle_ones(
    stack: Stack, swarm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _remove(stack)  # one stack at a time on a host network
    inputs = tmp_path_factory.mktemp("auto-inputs")
    distinct_pages(inputs / "eight", 8)
    with deploy(swarm_env, "ocra", inputs, "--workers", "0", "--autoscaler") as auto:
        assert until(lambda: not _autoscaled(auto), 60)
        job_id = auto.submit("eight")
        assert until(lambda: len(_autoscaled(auto)) >= 1, 300)
        progress = auto.wait_job(job_id, timeout=900)
        assert (progress["status"], progress["succeeded"]) == ("completed", 8)
        assert until(lambda: not _autoscaled(auto), 420, 5)  # idle nodes removed


def _autoscaled(stack: Stack) -> list[str]:
    return [name for name in stack.status()["services"] if "_ray-auto-" in name]
