"""The CLI and the API on a MongoDB store (``OCR_RAY_STORE_URL``): a driver SIGKILLed
mid-job and resumed (nothing lost, redone or counted twice) through a real outage of
the server, status, jobs, export, the API's 503 while the store is down; and bad store
URLs refused up front."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import ocr_ray
from tests.conftest import REPO, distinct_pages, wait_done
from tests.mongo_server import MongoServer, free_port
from tests.serve_process import serving
from tests.swarm_support import until
from tests.test_cli import OCR_RAY

pytestmark = pytest.mark.slow
FILES = 12


def _cli(*args: str, url: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OCR_RAY_STORE_URL=url)
    return subprocess.run(
        [OCR_RAY, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def _start(*args: str, url: str, log: Path) -> subprocess.Popen[str]:
    """``ocr-ray ARGS`` in the background, in a session of its own (with the local Ray
    it starts), its messages (and bar) into ``log``; a lease of 3 s."""
    env = dict(os.environ, OCR_RAY_STORE_URL=url, OCR_RAY_HEARTBEAT_S="1")
    with open(log, "w") as said:
        return subprocess.Popen(
            [OCR_RAY, *args], cwd=REPO, env=env, stdout=said, stderr=said, start_new_session=True
        )


def _wait_for(url: str, succeeded: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if ocr_ray.get_job("mongo", store=url).progress().succeeded >= succeeded:
                return
        except ocr_ray.UsageError:
            pass  # the job is not written yet
        time.sleep(0.2)
    raise AssertionError(f"never {succeeded} done (exit {process.poll()})")


def test_a_killed_driver_resumes_through_a_store_outage(tmp_path: Path) -> None:
    server = MongoServer(tmp_path / "mongo").start()
    url = server.url("ocr")
    folder, out = tmp_path / "in", tmp_path / "out"
    names = distinct_pages(folder, FILES, "d027")
    run = ("run", str(folder), "--out", str(out), "--job-id", "mongo", "--formats", "jsonl,csv")
    first = _start(*run, url=url, log=tmp_path / "first.log")
    try:
        _wait_for(url, 2, first)
        with pytest.raises(ocr_ray.UsageError, match="still running"):  # no second coordinator
            ocr_ray.resume("mongo", store=url)
        os.killpg(first.pid, signal.SIGKILL)  # the driver and the local Ray it started
        first.wait()
        job = ocr_ray.get_job("mongo", store=url)
        assert until(lambda: job.progress().status == "interrupted", 30, 0.5)  # lease ran out
        before = job.progress()
        assert 2 <= before.succeeded < FILES

        resumed = _start(
            "run", "--resume", "mongo", "--out", str(out), url=url, log=tmp_path / "resumed.log"
        )
        _wait_for(url, before.succeeded + 2, resumed)
        server.stop()  # a real outage, in the middle of the resumed run
        down = _cli("status", "mongo", url=url)
        assert down.returncode == 2 and "cannot be reached" in down.stderr, down.stderr
        assert url in down.stderr and "Traceback" not in down.stderr
        time.sleep(8)  # pages go on being read while nothing can be written
        server.start()
        done = resumed.wait(timeout=300)
        said = (tmp_path / "resumed.log").read_text()
        assert done == 0, said
        assert "holds its results and waits" in said and "answers again" in said, said

        records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert Counter(Path(r["path"]).name for r in records) == Counter(names)
        assert {r["status"] for r in records} == {"succeeded"}
        by_run = Counter(r["node_id"] for r in records)  # each run started its own local Ray
        assert len(by_run) == 2 and before.succeeded in by_run.values()
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["total_files"], summary["succeeded"], summary["pages"]) == (FILES,) * 3
        status = json.loads(_cli("status", "mongo", "--json", url=url).stdout)
        assert (status["status"], status["current"], status["total"]) == ("completed", FILES, FILES)
        assert (status["succeeded"], status["failed"], status["skipped"]) == (FILES, 0, 0)
        assert "mongo" in _cli("jobs", url=url).stdout
        exported = _cli(
            "export", "mongo", "--out", str(tmp_path / "b"), "--formats", "jsonl", url=url
        )
        assert exported.returncode == 0, exported.stderr
        again = (tmp_path / "b" / "results.jsonl").read_text().splitlines()
        assert sorted(again) == sorted((out / "results.jsonl").read_text().splitlines())
    finally:
        for process in (first, locals().get("resumed")):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # with the local Ray it started
        server.stop()


def test_bad_store_urls_are_refused_before_any_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    distinct_pages(folder, 1)
    out = tmp_path / "out"
    bad_option = "mongodb://127.0.0.1:27017/ocr?directConnection=true&retryWritez=true"
    done = _cli("run", str(folder), "--out", str(out), url=bad_option)
    assert done.returncode == 2 and "retryWritez" in done.stderr, done.stderr
    nobody = f"mongodb://ocr:s3cret@127.0.0.1:{free_port()}/ocr?serverSelectionTimeoutMS=300"
    done = _cli("run", str(folder), "--out", str(out), url=nobody)
    assert done.returncode == 2 and "cannot be reached" in done.stderr, done.stderr
    assert "ocr:***@127.0.0.1" in done.stderr and "s3cret" not in done.stderr
    assert not out.exists()


def test_the_api_says_the_store_is_unavailable_and_recovers(tmp_path: Path) -> None:
    server = MongoServer(tmp_path / "mongo").start()
    url = server.url("api")
    root, token = tmp_path / "inputs", "t0ken-for-the-store-outage-test"
    distinct_pages(root / "one", 1)
    env = dict(
        os.environ,
        OCR_RAY_STORE_URL=url,
        OCR_RAY_API_TOKEN=token,
        OCR_RAY_INPUT_ROOTS=str(root),
        OCR_RAY_HOME=str(tmp_path / "home"),
    )
    try:
        with (
            serving(env) as (api, _, _),
            httpx.Client(
                base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as http,
        ):
            job_id = http.post("/api/bulk/process", json={"folder_path": "one"}).json()["job_id"]
            assert wait_done(http, job_id)["succeeded"] == 1
            server.stop()
            for route in (f"/api/bulk/progress/{job_id}", "/api/bulk/jobs"):
                down = http.get(route)
                assert down.status_code == 503 and down.headers["Retry-After"] == "5", route
                said = down.json()["detail"]  # no internal address, even before the key
                assert "job store is unavailable" in said and "127.0.0.1" not in said
            server.start()
            assert until(lambda: http.get(f"/api/bulk/progress/{job_id}").status_code == 200, 60)
            assert http.get(f"/api/bulk/progress/{job_id}").json()["status"] == "completed"
    finally:
        server.stop()
