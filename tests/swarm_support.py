"""What the swarm tests share: the prepared swarm, stack deployment, and diagnosis.

Loaded as a pytest plugin (``tests/conftest.py``). ``swarm_env`` prepares a single-node
swarm once per session with cluster/prepare-local-swarm.sh (engine, base image, image
build); swarm tests are skipped only when no Docker engine can start on the machine. A
failed test that used a ``Stack`` gets a "swarm diagnosis" section in its report.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.serve_process import free_port

OCR_RAY = str(REPO / ".venv" / "bin" / "ocr-ray")


_NAMESPACE = "com.docker.stack.namespace"
ROLES = ("ray-head", "ray-worker", "api")


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
    # Job-size scaling shrinks the workers this long after the last API job; a test
    # starts only once that is over, so no earlier job's scale-down lands in it.
    scale_idle_s: float = 0.0
    last_job_end: float = 0.0
    roles: tuple[str, ...] = ROLES  # its services
    api_nodes: int = 1
    engines: tuple[str, ...] = ()  # every host's DOCKER_HOST, on a swarm of several

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

    def submit(self, folder: str, **options: Any) -> str:
        with self.http() as http:
            response = http.post(
                "/api/bulk/process", json={"folder_path": f"/data/inputs/{folder}", **options}
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
        self.last_job_end = time.monotonic()
        return self.progress(job_id)

    def records(self, job_id: str) -> list[dict[str, Any]]:
        with self.http() as http:
            response = http.get(f"/api/bulk/results/{job_id}", params={"format": "jsonl"})
            return [json.loads(line) for line in response.raise_for_status().text.splitlines()]

    def worker_replicas(self) -> tuple[int, int]:
        services = self.status()["services"]
        worker = services[f"{self.name}_ray-worker"]
        return worker["running"], worker["desired"]

    def diagnosis(self) -> str:
        """What an operator looks at: nodes, services, every task with its error, and
        the last lines of each service's logs (attached to a failed test's report)."""
        parts = [self._run("docker", "node", "ls")]
        parts.append(self._run("docker", "service", "ls", "--filter", f"label={_NAMESPACE}"))
        services = subprocess.run(
            ["docker", "stack", "services", "-q", self.name],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for service in services.stdout.split():
            parts.append(
                self._run(
                    "docker",
                    "service",
                    "ps",
                    "--no-trunc",
                    "--format",
                    "{{.Name}}  {{.Node}}  desired={{.DesiredState}}  now={{.CurrentState}}"
                    "  error={{.Error}}",
                    service,
                )
            )
            parts.append(self._run("docker", "service", "logs", "--tail", "25", service))
        parts.append(self._run(OCR_RAY, "cluster", "--stack", self.name, "status"))
        for engine in self.engines:  # what each host's own engine has
            ps = ("docker", "ps", "-a", "--format", "{{.Names}}  {{.Status}}")
            parts.append(f"# the engine at {engine}\n" + self._run(*ps, host=engine))
        return "\n".join(parts)

    def _run(self, *command: str, host: str | None = None) -> str:
        env = dict(self.env, DOCKER_HOST=host) if host else self.env
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"$ {' '.join(command)}\n(timed out)"
        return f"$ {' '.join(command)}\n{done.stdout}{done.stderr}"

    def baseline(self) -> None:
        """The state every test starts from, whatever ran before: the node active, one
        worker, every service healthy, the API ready and one Ray worker node joined.

        Reads the cheap things from the engine first; ``ocr-ray cluster status`` (which
        asks Ray inside the head) only once the services look settled."""
        time.sleep(max(0.0, self.last_job_end + self.scale_idle_s + 3 - time.monotonic()))
        node = self.docker("node", "ls", "--format", "{{.Hostname}} {{.Availability}}").split()
        if node[1].lower() != "active":
            self.cli("restore", node[0])
        worker = f"{self.name}_ray-worker"
        replicas = self.docker(
            "service", "inspect", "-f", "{{.Spec.Mode.Replicated.Replicas}}", worker
        )
        if replicas.strip() != "1":
            self.cli("scale", "1")
        assert until(lambda: httpx.get(f"{self.url}/ready", timeout=5).status_code == 200, 300)
        assert until(self._settled, 300)

    def _settled(self) -> bool:
        status = self.status()
        apis = status["ray_nodes"] if not isinstance(status["ray_nodes"], str) else []
        joined = sum(bool(n["api"]) for n in apis) == self.api_nodes
        return status["services"] == self.services() and len(_worker_ids(status)) == 1 and joined

    def services(self) -> dict[str, dict[str, int]]:
        """Its services at the baseline: one replica each, the API's nodes."""
        replicas = one_each(self.name, self.roles)
        replicas[f"{self.name}_api"] = {"running": self.api_nodes, "desired": self.api_nodes}
        return replicas


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


@pytest.fixture(scope="session")
def swarm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not shutil.which("dockerd") or not shutil.which("docker"):
        pytest.skip("no Docker engine installed (scripts/setup.sh --dev installs docker.io)")
    prepared = _prepared_swarm()
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


def _prepared_swarm() -> subprocess.CompletedProcess[str]:
    """cluster/prepare-local-swarm.sh's outcome."""
    script = ["bash", str(REPO / "cluster" / "prepare-local-swarm.sh")]
    return background_step(script, "prep", env=dict(os.environ), timeout=1500)


def background_step(
    command: list[str], name: str, *, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """The outcome of a set-up step that scripts/test.sh starts in the background beside
    the other tests (the image build, the hosts; minutes of mostly I/O), in the folder
    OCR_RAY_TEST_SWARM_PREP names as NAME.rc, NAME.out and NAME.err; outside that
    script the step runs here."""
    folder = os.environ.get("OCR_RAY_TEST_SWARM_PREP")
    if not folder:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    files = {kind: Path(folder) / f"{name}.{kind}" for kind in ("rc", "out", "err")}
    assert until(files["rc"].exists, timeout, 1.0), f"the background {name} step did not finish"
    said = {kind: path.read_text(errors="replace") for kind, path in files.items()}
    return subprocess.CompletedProcess(command, int(said["rc"]), said["out"], said["err"])


@contextlib.contextmanager
def deploy(
    env: dict[str, str],
    name: str,
    inputs: Path,
    *flags: str,
    api_host: str = "127.0.0.1",
    **settings: str,
) -> Iterator[Stack]:
    """The stack deployed with ``flags``, its API reached at ``api_host`` (the
    manager's address), removed with its volumes afterwards."""
    env = dict(env, **settings)
    port = free_port()
    roles = (*ROLES, "mongodb") if "mongodb" in flags else ROLES
    nodes = int(flags[flags.index("--api-nodes") + 1]) if "--api-nodes" in flags else 1
    url = f"http://{api_host}:{port}"
    stack = Stack(name, env, url, "", inputs, roles=roles, api_nodes=nodes)
    stack.scale_idle_s = float(settings.get("OCR_RAY_SCALE_IDLE_S", 0))
    _remove(stack)
    stack.cli("deploy", "--host-network", "--inputs", str(inputs), "--api-port", str(port), *flags)
    stack.token = (Path(env["OCR_RAY_HOME"]) / f"{name}_api_token").read_text().strip()
    try:
        ready = until(lambda: httpx.get(f"{stack.url}/ready", timeout=5).status_code == 200, 300)
        assert ready, stack.diagnosis()
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
    # Its volumes too: a store kept from an earlier run would hold that run's jobs and
    # lockouts.
    volumes = stack.docker("volume", "ls", "-q", "--filter", label).split()
    if volumes:
        until(lambda: bool(stack.docker("volume", "rm", *volumes)), 60, 1.0)


def one_each(name: str, roles: tuple[str, ...] = ROLES) -> dict[str, dict[str, int]]:
    return {f"{name}_{role}": {"running": 1, "desired": 1} for role in roles}


def worker_ids(stack: Stack) -> set[str]:
    return _worker_ids(stack.status())


def non_worker_ids(stack: Stack) -> set[str]:
    """The Ray nodes that must read nothing: the head and the API node (0 CPUs each)."""
    nodes = stack.status()["ray_nodes"]
    assert not isinstance(nodes, str), nodes
    return {n["id"] for n in nodes if n["cpus"] == 0}


def _worker_ids(status: dict[str, Any]) -> set[str]:
    nodes = status["ray_nodes"]
    if isinstance(nodes, str):  # "unavailable: ..." while the head restarts
        return set()
    return {n["id"] for n in nodes if n["cpus"] > 0}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        stacks = {id(v): v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Stack)}
        for stack in stacks.values():  # a fixture may hand on the same stack under two names
            report.sections.append((f"swarm diagnosis: {stack.name}", stack.diagnosis()))
