"""A driver killed mid-job (SIGKILL) is resumed; nothing is lost, redone or counted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

import ocr_ray
from tests.conftest import REPO, distinct_pages
from tests.test_cli import OCR_RAY

pytestmark = pytest.mark.slow


def test_resume_after_the_driver_is_killed(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    distinct_pages(folder, 20, "d027")
    out = tmp_path / "out"
    first = subprocess.Popen(
        [
            OCR_RAY,
            "--store",
            store_url,
            "run",
            str(folder),
            "--out",
            str(out),
            "--job-id",
            "killed",
            "--quiet",
        ],
        cwd=REPO,
        env=dict(os.environ, OCR_RAY_HEARTBEAT_S="1"),  # a lease of 3 s
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if ocr_ray.get_job("killed", store=store_url).progress().succeeded >= 4:
                break
        except ocr_ray.UsageError:
            pass  # the job row is not written yet
        time.sleep(0.2)
    with pytest.raises(ocr_ray.UsageError, match="still running"):  # no second coordinator
        ocr_ray.resume("killed", store=store_url)
    os.killpg(first.pid, signal.SIGKILL)  # the driver and the local Ray it started
    first.wait()
    job = ocr_ray.get_job("killed", store=store_url)
    deadline = time.monotonic() + 30
    while job.progress().status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    before = job.progress()
    assert before.status == "interrupted"  # its lease ran out with no coordinator to renew it
    assert 4 <= before.succeeded < 20

    resumed = subprocess.run(
        [OCR_RAY, "--store", store_url, "run", "--resume", "killed", "--out", str(out), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert Counter(Path(r["path"]).name for r in records) == Counter(
        f"p{i:02d}.png" for i in range(20)
    )
    assert all(r["status"] == "succeeded" for r in records)
    by_run = Counter(r["node_id"] for r in records)  # each run started its own local Ray
    assert len(by_run) == 2 and before.succeeded in by_run.values()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["total_files"], summary["succeeded"], summary["pages"]) == (20, 20, 20)
