"""The HTTP API over real HTTP against ``ocr-ray serve`` (Ray Serve on a real local Ray)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ocr_ray.accuracy import cer
from tests.conftest import PAGES, ApiServer, distinct_pages, ground_truth, wait_done

pytestmark = pytest.mark.slow


def client(server: ApiServer, token: str | None = None) -> httpx.Client:
    return server.client(token)


def start_and_reach(http: httpx.Client, folder: str, *, succeeded: int) -> str:
    """Start a job on ``folder`` and return once ``succeeded`` files are done."""
    job_id = str(http.post("/api/bulk/process", json={"folder_path": folder}).json()["job_id"])
    deadline = time.monotonic() + 300
    while http.get(f"/api/bulk/progress/{job_id}").json()["succeeded"] < succeeded:
        assert time.monotonic() < deadline, f"job {job_id} made no progress"
        time.sleep(0.2)
    return job_id


def test_health_is_open_and_every_api_route_needs_the_token(api_server: ApiServer) -> None:
    assert httpx.get(f"{api_server.url}/health").json() == {"status": "ok"}
    routes = [
        ("GET", "/api/bulk/jobs"),
        ("GET", "/api/bulk/progress/x"),
        ("GET", "/api/bulk/results/x"),
        ("POST", "/api/bulk/process"),
        ("POST", "/api/bulk/upload"),
        ("POST", "/api/bulk/jobs/x/cancel"),
        ("GET", "/api/cluster/workers"),
        ("GET", "/api/bulk/options"),
        ("GET", "/api/bulk/files/x"),
    ]
    for number, (method, path) in enumerate(routes, 10):
        bare = httpx.request(method, api_server.url + path)
        # Each wrong key from its own address: repeated ones from one address are slowed.
        with api_server.client("x" * 32, source=f"127.0.3.{number}") as wrong_client:
            wrong = wrong_client.request(method, path)
        assert (bare.status_code, wrong.status_code) == (401, 401), path
    spec = httpx.get(f"{api_server.url}/openapi.json").json()
    assert (
        "/api/bulk/process" in spec["paths"]
        and httpx.get(f"{api_server.url}/docs").status_code == 200
    )


def test_paths_outside_the_input_roots_are_refused(api_server: ApiServer, tmp_path: Path) -> None:
    root = api_server.root
    sibling = root.parent / (root.name + "-evil")
    sibling.mkdir(exist_ok=True)
    shutil.copy(PAGES / "c015.tif", sibling / "secret.tif")
    os.symlink(sibling, root / "escape", target_is_directory=True)
    refused = [
        str(sibling),
        "../" + sibling.name,
        str(root / ".." / sibling.name),
        "/etc",
        str(root / "escape"),
        "samples/../../" + sibling.name,
        "/",
        "samples/\0x",
    ]
    with client(api_server) as http:
        before = http.get("/api/bulk/jobs").json()["count"]
        for folder in refused:
            response = http.post("/api/bulk/process", json={"folder_path": folder})
            assert response.status_code in (403, 422), (folder, response.text)
        assert http.post("/api/bulk/process", json={"folder_path": "missing"}).status_code == 404
        for bad in (
            {"languages": ["xx"]},
            {"languages": ["eng;rm -rf /"]},
            {"provider": "bash"},
            {"export_formats": ["exe"]},
        ):
            body = {"folder_path": "samples", **bad}
            assert http.post("/api/bulk/process", json=body).status_code == 422, bad
        assert http.get("/api/bulk/jobs").json()["count"] == before  # nothing was started


def test_submit_poll_and_download_the_zip(api_server: ApiServer) -> None:
    with client(api_server) as http:
        response = http.post(
            "/api/bulk/process", json={"folder_path": "samples", "languages": ["eng"]}
        )
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        progress = wait_done(http, job_id)
        assert (progress["status"], progress["succeeded"], progress["total"]) == ("completed", 3, 3)
        archive = http.get(f"/api/bulk/results/{job_id}")
        assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            assert sorted(z.namelist()) == [
                "results.csv",
                "results.json",
                "results.jsonl",
                "results.txt",
                "summary.json",
            ]
            records = [json.loads(line) for line in z.read("results.jsonl").splitlines()]
            summary = json.loads(z.read("summary.json"))
        assert summary["total_files"] == len(records) == 3
        photo = next(r for r in records if r["path"].endswith("phototest.tif"))
        assert cer(photo["text"], ground_truth("phototest")) <= 0.03
        csv_text = http.get(f"/api/bulk/results/{job_id}", params={"format": "csv"}).text
        assert csv_text.startswith("path,status") and csv_text.count("succeeded") == 3
        assert http.get(f"/api/bulk/results/{job_id}", params={"format": "exe"}).status_code == 422
        page = http.get("/api/bulk/jobs", params={"limit": 1}).json()
        assert len(page["data"]) == 1 and page["count"] >= 1


def test_the_zip_bundles_the_jobs_export_formats(api_server: ApiServer) -> None:
    # An ISO 639-1 code, as the gvpocr client sends, is the installed model it names.
    body = {
        "folder_path": "samples",
        "export_formats": ["csv", "jsonl", "alto"],
        "languages": ["en"],
    }
    with client(api_server) as http:
        job_id = http.post("/api/bulk/process", json=body).json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 3
        archive = http.get(f"/api/bulk/results/{job_id}")
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            names = sorted(z.namelist())
            alto = [n for n in names if n.startswith("alto/")]
            assert [n for n in names if n not in alto] == [
                "results.csv",
                "results.jsonl",
                "summary.json",
            ]
            assert len(alto) == 3 and all(n.endswith(".xml") for n in alto)
            assert b"ns-v4" in z.read(alto[0])
            records = [json.loads(line) for line in z.read("results.jsonl").splitlines()]
            assert len(records) == 3
            assert {r["languages"][0] for r in records} == {"eng"}
            assert sorted(r["outputs"]["alto"] for r in records) == alto
        text = http.get(f"/api/bulk/results/{job_id}", params={"format": "txt"}).text
        assert text.count("===== ") == 3  # any single format is still there on demand


def test_upload_files_and_a_zip(api_server: ApiServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.write(PAGES / "d027.tif", "batch/one/d027.tif")
        z.write(PAGES / "c015.tif", "batch/c015.tif")
    with client(api_server) as http:
        files = [
            ("files", ("photo.tif", (PAGES / "phototest.tif").read_bytes(), "image/tiff")),
            ("files", ("pages.zip", buffer.getvalue(), "application/zip")),
            ("files", ("photo.tif", (PAGES / "c015.tif").read_bytes(), "image/tiff")),  # twice
        ]
        response = http.post("/api/bulk/upload", files=files, data={"languages": "eng"})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 4
        names = sorted(Path(f["path"]).name for f in http.get(f"/api/bulk/files/{job_id}").json())
        assert names == ["c015.tif", "d027.tif", "photo-2.tif", "photo.tif"]


def test_unsafe_or_oversized_uploads_are_refused(api_server: ApiServer) -> None:
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escaped.png", b"x")
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.png", b"\0" * (9 * 1024 * 1024))  # over the 8 MiB limit once unpacked
    with client(api_server) as http:
        response = http.post("/api/bulk/upload", files=[("files", ("e.zip", evil.getvalue()))])
        assert response.status_code == 400 and "unsafe" in response.text
        response = http.post("/api/bulk/upload", files=[("files", ("b.zip", big.getvalue()))])
        assert response.status_code == 413
    assert not any((api_server.home).rglob("escaped.png"))


def test_cancel_a_running_job(api_server: ApiServer) -> None:
    distinct_pages(api_server.root / "to-cancel", 24)
    with client(api_server) as http:
        job_id = start_and_reach(http, "to-cancel", succeeded=1)
        assert http.post(f"/api/bulk/jobs/{job_id}/cancel").status_code == 200
        progress = wait_done(http, job_id)
        assert progress["status"] == "cancelled"
        assert progress["current"] == progress["total"] == 24 and progress["skipped"] > 0
        assert http.post(f"/api/bulk/jobs/{job_id}/cancel").status_code == 409
        failed = http.get(f"/api/bulk/files/{job_id}", params={"status": "skipped"}).json()
        assert failed and all(f["error"]["code"] == "cancelled" for f in failed)


def test_concurrent_submissions_and_polls(api_server: ApiServer) -> None:
    for index in range(20):
        folder = api_server.root / "many" / f"f{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(PAGES / "phototest.tif", folder / "page.tif")
    with client(api_server) as http, ThreadPoolExecutor(20) as pool:
        submit = lambda i: http.post("/api/bulk/process", json={"folder_path": f"many/f{i:02d}"})  # noqa: E731
        responses = list(pool.map(submit, range(20)))
        assert [r.status_code for r in responses] == [202] * 20
        ids = [r.json()["job_id"] for r in responses]
        assert len(set(ids)) == 20
        polls = list(pool.map(lambda i: http.get(f"/api/bulk/progress/{ids[i % 20]}"), range(200)))
        assert Counter(p.status_code for p in polls) == {200: 200}
        finals = [wait_done(http, job_id) for job_id in ids]
    assert all((f["status"], f["succeeded"], f["total"]) == ("completed", 1, 1) for f in finals)


def test_a_killed_job_runner_resumes_without_loss_or_double_counting(api_server: ApiServer) -> None:
    distinct_pages(api_server.root / "resume", 16)
    with client(api_server) as http:
        job_id = start_and_reach(http, "resume", succeeded=3)
        kill = (
            f"import ray; ray.init(address={api_server.ray_address!r}, log_to_driver=False);"
            "a = ray.get_actor('ocr-ray-job-runner', namespace='ocr_ray');"
            "ray.kill(a, no_restart=False)"
        )
        env = dict(os.environ, RAY_AUTH_MODE="token")  # joining a token-auth cluster
        subprocess.run(
            [sys.executable, "-c", kill], check=True, capture_output=True, timeout=120, env=env
        )
        progress = wait_done(http, job_id)
        files = http.get(f"/api/bulk/files/{job_id}", params={"limit": 1000}).json()
        workers = http.get("/api/cluster/workers").json()
    assert progress["status"] == "completed"
    assert (progress["succeeded"], progress["total"], progress["pages"]) == (16, 16, 16)
    assert Counter(Path(f["path"]).name for f in files) == Counter(
        f"p{i:02d}.png" for i in range(16)
    )
    assert workers["nodes_alive"] == 1 and workers["cpus_total"] == 2


def test_metrics_reach_rays_prometheus_endpoint(api_server: ApiServer) -> None:
    with client(api_server) as http:  # at least one finished job in this server's life
        job_id = http.post("/api/bulk/process", json={"folder_path": "samples"}).json()["job_id"]
        wait_done(http, job_id)
    script = (
        f"import ray; ray.init(address={api_server.ray_address!r}, log_to_driver=False);"
        "print([n['MetricsExportPort'] for n in ray.nodes() if n['Alive']][0])"
    )
    env = dict(os.environ, RAY_AUTH_MODE="token")
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    url = f"http://127.0.0.1:{done.stdout.split()[-1]}/metrics"
    deadline, text = time.monotonic() + 90, ""
    while time.monotonic() < deadline and "ocr_ray_pages" not in text:
        time.sleep(3)
        text = httpx.get(url, timeout=10).text
    assert "ocr_ray_files" in text and 'status="succeeded"' in text
    assert "ocr_ray_pages" in text and "ocr_ray_file_ocr_seconds" in text
