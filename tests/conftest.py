"""Shared fixtures: a real local Ray, the real sample pages, and bad inputs made on disk."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import plugin_dist
from tests.mongo_server import MongoServer, real_mongo_url
from tests.pages import PAGES, distinct_pages  # noqa: F401  (tests import them from here)
from tests.serve_process import free_port, serving

REPO = Path(__file__).resolve().parent.parent
SAMPLES = PAGES.parent
GROUND_TRUTH = SAMPLES / "ground-truth"

# Set before anything starts Ray, so the workers inherit it.
_HOME = Path(tempfile.mkdtemp(prefix="ocr-ray-tests-"))
os.environ.update(
    OCR_RAY_HOME=str(_HOME),
    # Ray's own folder, private: the tests never join a Ray already up on this machine
    # (one that a run keeps warm, or 'ocr-ray up''s), which has other workers' settings.
    RAY_TMPDIR=tempfile.mkdtemp(prefix="ocrt-", dir="/tmp"),
    OCR_RAY_INCLUDE_DASHBOARD="0",
    OCR_RAY_KEEP_LOCAL_RAY_S="0",  # each run its own Ray, as isolated as tests need
    OCR_RAY_TEST_CRASH_DIR=str(_HOME / "crash-markers"),
    PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
)
(_HOME / "crash-markers").mkdir()
# A run that a script started in the background (scripts/test.sh's swarm lane) inherits
# SIGINT ignored, as POSIX has it, and so would every process the tests start and then
# stop with Ctrl-C's signal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# The tests' own engines and formats, installed as any plugin package installs them.
TEST_PLUGINS = {
    "ocr_ray.engines": {
        "faulty": "tests.fault_engines:FaultyProvider",
        "slow": "tests.fault_engines:SlowProvider",
        "null": "benchmarks.null_engine:NullProvider",
        "shouting": "tests.plugin_example:ShoutingProvider",
        "scribe": "tests.plugin_example:ScribeProvider",
    },
    "ocr_ray.formats": {
        "wordcount": "tests.plugin_example:WordCountFormat",
        "pagetext": "tests.plugin_example:PageTextFormat",
    },
}
plugin_dist.install(_HOME / "plugins", "ocr-ray-test-plugins", TEST_PLUGINS)


def wait_done(http: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    """Poll an API job until it ends; its final progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = http.get(f"/api/bulk/progress/{job_id}").raise_for_status().json()
        if progress["status"] in ("completed", "cancelled", "failed"):
            return progress
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish")


def ground_truth(name: str) -> str:
    """The transcription of a sample page (``name`` without suffix)."""
    return (GROUND_TRUTH / f"{name}.gt.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A real local Ray shared by the tests that need one."""
    import ray

    from ocr_ray.job.ray_init import connect

    if not ray.is_initialized():
        connect(None)
    yield


@pytest.fixture
def cluster() -> Iterator[object]:
    """A ``ray.cluster_utils.Cluster`` whose head has no CPUs: every task runs on a
    worker node the test adds. Its dashboard (the state API's server) on a free port:
    Ray's default, 8265, may still be held by an earlier test's Ray that is going down."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()
    head = {"num_cpus": 0, "dashboard_port": free_port()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store per test."""
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """One MongoDB-wire server for the session (each test uses its own database)."""
    server = MongoServer(tmp_path_factory.mktemp("mongo")).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "mongodb"])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind: the contract every store keeps. MongoDB is the
    session's test server, or the mongod that OCR_RAY_TEST_MONGO_URI names."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return real_mongo_url() or request.getfixturevalue("mongo_server").url()


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A writable copy of a few real sample pages."""
    target = tmp_path / "pages"
    target.mkdir()
    for name in ("phototest.tif", "c015.tif", "d027.tif"):
        shutil.copy(PAGES / name, target / name)
    return target


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@dataclass
class ApiServer:
    """A running ``ocr-ray serve`` process."""

    url: str
    token: str
    root: Path
    home: Path
    ray_address: str
    process: subprocess.Popen[str]
    # Loopback ports the server may send callbacks to (OCR_RAY_CALLBACK_HOSTS lists
    # 127.0.0.1 on each, and the name localhost without a port).
    callback_ports: tuple[int, ...] = ()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def client(self, token: str | None = None, source: str = "127.0.0.1") -> httpx.Client:
        """An HTTP client with ``token`` (default: the bootstrap admin key), connecting
        from the loopback address ``source``: wrong keys lock out only their address."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(
            base_url=self.url, headers=self.headers(token), timeout=120, transport=transport
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ocr-ray`` on this server's store, as an operator on its machine runs it."""
        env = dict(os.environ, OCR_RAY_HOME=str(self.home))
        command = [str(REPO / ".venv" / "bin" / "ocr-ray"), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    def create_key(self, name: str, *options: str) -> str:
        """A new user's key, taken from the last line that ``ocr-ray keys create`` prints."""
        return self.create_user(name, *options)[0]

    def create_user(self, name: str, *options: str) -> tuple[str, str]:
        """A new user's key and webhook secret, as ``ocr-ray keys create`` prints them."""
        done = self.cli("keys", "create", name, *options)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        secret = next(line.split(": ")[-1] for line in lines if line.startswith("webhook"))
        return lines[-1], secret


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The real app on Ray Serve over a real local Ray, serving one input root."""
    base = tmp_path_factory.mktemp("api")
    root, home = base / "root", base / "home"
    (root / "samples").mkdir(parents=True)
    for name in ("phototest.tif", "c015.tif", "d027.tif"):
        shutil.copy(PAGES / name, root / "samples" / name)
    token = secrets.token_urlsafe(24)
    ports = tuple(free_port() for _ in range(3))
    env = dict(
        os.environ,
        OCR_RAY_API_TOKEN=token,
        OCR_RAY_INPUT_ROOTS=str(root),
        OCR_RAY_HOME=str(home),
        OCR_RAY_UPLOAD_MAX_BYTES=str(8 * 1024 * 1024),
        # Above the 20 jobs one test submits at once; the quota test sets a user's own.
        OCR_RAY_USER_MAX_RUNNING_JOBS="25",
        OCR_RAY_CALLBACK_HOSTS=",".join([*(f"127.0.0.1:{p}" for p in ports), "localhost"]),
        OCR_RAY_CALLBACK_FIRST_RETRY_S="0.2",
        OCR_RAY_CALLBACK_RETRY_FOR_S="3",
        # A lease of 6 s: a restarted job runner takes its jobs over that soon.
        OCR_RAY_HEARTBEAT_S="2",
    )
    with serving(env) as (url, address, process):
        yield ApiServer(url, token, root, home, address, process, ports)


pytest_plugins = ["tests.swarm_support"]
