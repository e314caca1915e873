"""The ocr-ray command: outputs, record counts and exit codes, run as a real process."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import httpx

import ocr_ray
from tests.conftest import PAGES, REPO

OCR_RAY = str(REPO / ".venv" / "bin" / "ocr-ray")


def run_cli(
    *args: str, store: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OCR_RAY, "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )


def test_run_writes_every_format_and_exits_0(
    tmp_path: Path, store_url: str, sample_dir: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli("run", str(sample_dir), "--out", str(out), "--quiet", store=store_url)
    assert done.returncode == 0, done.stderr
    assert "3 succeeded, 0 failed" in done.stdout and str(out / "summary.json") in done.stdout
    names = {
        "results.jsonl",
        "results.json",
        "results.csv",
        "results.txt",
        "summary.json",
        "results.zip",
    }
    assert {p.name for p in out.iterdir()} == names
    jsonl = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).name for r in jsonl] == ["c015.tif", "d027.tif", "phototest.tif"]
    assert json.loads((out / "results.json").read_text()) == jsonl
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["status"] for r in rows] == ["succeeded"] * 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_files"] == 3 and summary["pages"] == 3
    assert summary["total_characters"] == sum(len(r["text"]) for r in jsonl)
    with zipfile.ZipFile(out / "results.zip") as archive:
        assert set(archive.namelist()) == names - {"results.zip"}
    assert "quick brown dog" in (out / "results.txt").read_text()


def test_run_exits_1_when_a_file_failed(tmp_path: Path, store_url: str, sample_dir: Path) -> None:
    store = store_url
    (sample_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out = tmp_path / "out"
    done = run_cli(
        "run", str(sample_dir), "--out", str(out), "--quiet", "--formats", "csv", store=store_url
    )
    assert done.returncode == 1, done.stderr
    assert {p.name for p in out.iterdir()} == {"results.csv", "summary.json"}
    rows = {Path(r["path"]).name: r for r in csv.DictReader((out / "results.csv").open())}
    assert len(rows) == 4
    assert rows["broken.png"]["status"] == "failed"
    code = rows["broken.png"]["error_code"]
    assert code in {"unsupported_format", "corrupt_image"}
    # Failures by name: in the final summary, summary.json, status and failures.
    broken = str(sample_dir / "broken.png")
    assert f"  failed: {broken}: {code}: " in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [(f["path"], f["code"]) for f in summary["failed_files"]] == [(broken, code)]
    assert summary["inputs"] == [str(sample_dir)] and summary["output_dir"] == str(out)
    assert summary["options"]["export_formats"] == ["csv"]
    assert summary["options"]["languages"] == ["eng"]
    [job] = ocr_ray.list_jobs(store=store)
    status = run_cli("status", job.job_id, store=store).stdout.splitlines()
    assert status[0] == f"job {job.job_id}: completed"
    assert status[1].startswith("pages: 3 of 3, ")
    assert status[2] == "files: 4 of 4: 3 succeeded, 1 failed, 0 skipped"
    assert f"inputs: {sample_dir}" in status and f"output: {out}" in status
    failures = run_cli("failures", job.job_id, store=store).stdout.splitlines()
    assert [line.split("\t")[:2] for line in failures] == [[broken, code]]
    listed = run_cli("jobs", store=store).stdout
    assert f"{sample_dir}  -> {out}" in listed and job.job_id in listed


def test_usage_errors_exit_2_before_any_work(
    tmp_path: Path, store_url: str, sample_dir: Path
) -> None:
    out = str(tmp_path / "out")
    cases = [
        ("run", str(tmp_path / "missing"), "--out", out),
        ("run", str(sample_dir), "--out", out, "--lang", "xxx"),
        ("run", str(sample_dir), "--out", out, "--lang", "xx"),  # not an ISO 639-1 code
        ("run", str(sample_dir), "--out", out, "--lang", "eng;touch /tmp/pwned"),
        ("run", str(sample_dir), "--out", out, "--provider", "nope"),
        ("run", str(sample_dir), "--out", out, "--formats", "exe"),
        ("status", "no-such-job"),
        ("run", "--out", out),
    ]
    for args in cases:
        done = run_cli(*args, store=store_url)
        assert done.returncode == 2, (args, done.stderr)
        assert "error" in done.stderr
    assert not Path(out).exists()


def test_a_broken_engine_is_one_usage_error_before_any_file(
    tmp_path: Path, store_url: str, sample_dir: Path
) -> None:
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    (tessdata / "eng.traineddata").write_bytes(b"not a language model")
    out = tmp_path / "out"
    done = subprocess.run(
        [OCR_RAY, "--store", store_url, "run", str(sample_dir), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OCR_RAY_TESSDATA_PREFIX": str(tessdata)},
    )
    assert done.returncode == 2, done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("ocr-ray: error:")]
    assert len(ours) == 1 and "the tesseract engine cannot run here" in ours[0], done.stderr
    assert not (out / "results.jsonl").exists()
    [job] = ocr_ray.list_jobs(store=store_url)  # the API and `status` say why, too
    assert job.status.value == "failed" and job.total == 0
    assert job.error and job.error.startswith("EngineUnavailableError: the tesseract engine")


def test_help_documents_exit_codes() -> None:
    done = subprocess.run([OCR_RAY, "run", "--help"], capture_output=True, text=True, check=True)
    for line in (
        "0    every file succeeded",
        "1    the job completed but some files failed",
        "2    usage or input error",
    ):
        assert line in done.stdout


def test_status_jobs_and_export_reattach(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PAGES / "c015.tif", folder)
    done = run_cli(
        "run",
        str(folder),
        "--out",
        str(tmp_path / "a"),
        "--quiet",
        "--job-id",
        "job-one",
        store=store_url,
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(run_cli("status", "job-one", "--json", store=store_url).stdout)
    assert (status["status"], status["current"], status["total"], status["percentage"]) == (
        "completed",
        1,
        1,
        100.0,
    )
    assert "job-one" in run_cli("jobs", store=store_url).stdout
    exported = run_cli(
        "export", "job-one", "--out", str(tmp_path / "b"), "--formats", "jsonl", store=store_url
    )
    assert exported.returncode == 0
    assert (tmp_path / "b" / "results.jsonl").read_text() == (
        tmp_path / "a" / "results.jsonl"
    ).read_text()


def test_runs_reuse_a_local_ray_that_up_started(tmp_path: Path, store_url: str) -> None:
    import ray

    ray.shutdown()  # this test process's own Ray, so that the note below is 'up''s
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PAGES / "phototest.tif", folder)
    up = subprocess.run([OCR_RAY, "up", "--cpus", "2"], capture_output=True, text=True, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        address = _current_cluster().read_text().strip()
        # One command away: the dashboard's URL, its token, and what the ray CLI needs.
        dashboard = run_cli("dashboard", store=store_url).stdout.splitlines()
        assert dashboard[0].startswith("dashboard: http://") and dashboard[0] in up.stdout
        assert f"export RAY_AUTH_MODE=token RAY_ADDRESS={address}" in dashboard[2]
        assert httpx.get(dashboard[0].split()[-1], timeout=30).status_code == 200
        ray_status = subprocess.run(
            [str(REPO / ".venv" / "bin" / "ray"), "status"],
            env=dict(os.environ, RAY_AUTH_MODE="token", RAY_ADDRESS=address),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ray_status.returncode == 0 and "2.0 CPU" in ray_status.stdout, ray_status.stderr
        nodes = []
        for name, quiet in (("a", False), ("b", True)):
            out = tmp_path / name
            flags = ["--quiet"] if quiet else []
            done = run_cli("run", str(folder), "--out", str(out), *flags, store=store_url)
            assert done.returncode == 0, done.stderr
            said = [line for line in done.stderr.splitlines() if line.startswith("ocr-ray: ")]
            assert "RAY_AUTH_MODE=disabled" not in done.stderr  # no advice to drop security
            if quiet:
                assert said == [], done.stderr
            else:  # what it does, in its own words
                assert said[0] == f"ocr-ray: joining the local Ray at {address}..."
                assert said[1].startswith("ocr-ray: Ray is ready: 2 CPUs; dashboard: http")
                assert said[2] == "ocr-ray: probing the engine: tesseract (eng)", said
                named = _ray_job_names(dashboard[0].split()[-1])
                job_id = re.search(r"^job (\S+)$", done.stderr, re.M).group(1)  # type: ignore[union-attr]
                assert f"ocr-ray {job_id}" in named, named
            (record,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
            assert "12 point text" in record["text"]
            nodes.append(record["node_id"])
        assert nodes[0] == nodes[1]  # two processes, one Ray: each run alone starts its own
    finally:
        assert subprocess.run([OCR_RAY, "down"], timeout=180).returncode == 0
    # After a crash Ray's note points at nothing; a run starts a fresh Ray instead of waiting.
    _current_cluster().write_text(address)
    done = run_cli("run", str(folder), "--out", str(tmp_path / "c"), "--quiet", store=store_url)
    assert done.returncode == 0, done.stderr


def test_a_run_keeps_its_local_ray_warm_until_idle(tmp_path: Path, store_url: str) -> None:
    import psutil
    import ray

    ray.shutdown()  # this test process's own Ray: the runs below start and share one
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PAGES / "phototest.tif", folder)
    home = tmp_path / "home"
    env = dict(os.environ, OCR_RAY_KEEP_LOCAL_RAY_S="4", OCR_RAY_HOME=str(home))
    said, nodes = [], []
    for name in ("first", "second"):
        done = run_cli("run", str(folder), "--out", str(tmp_path / name), store=store_url, env=env)
        assert done.returncode == 0, done.stderr
        said.append(next(x for x in done.stderr.splitlines() if x.startswith("ocr-ray: ")))
        (record,) = [
            json.loads(x) for x in (tmp_path / name / "results.jsonl").read_text().splitlines()
        ]
        nodes.append(record["node_id"])
    assert said[0].startswith("ocr-ray: starting a local Ray that stays up for later runs")
    assert said[1].startswith("ocr-ray: joining the local Ray at"), said
    assert nodes[0] == nodes[1]
    session = (home / "local-ray-session").read_text().strip()
    # Each run noted itself in the Ray's own folder, whatever its OCR_RAY_HOME.
    assert (Path(session) / "ocr-ray-users").is_dir()

    # No run uses it: the keeper stops that Ray's processes after 4 s, then itself.
    def left() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if session in " ".join(p.info["cmdline"] or [])
        ]

    deadline = time.monotonic() + 60
    while (left() or (home / "local-ray-session").exists()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not (home / "local-ray-session").exists()
    assert left() == []


def _current_cluster() -> Path:
    """Ray's note of the last local Ray started (in the tests' own RAY_TMPDIR)."""
    from ray._private import utils

    return Path(utils.get_ray_address_file(None))


def _ray_job_names(dashboard: str) -> list[str]:
    """The names of the Ray jobs the dashboard lists (as ``ray job list`` asks)."""
    script = (
        "import json, sys\n"
        "from ray.job_submission import JobSubmissionClient\n"
        "jobs = JobSubmissionClient(sys.argv[1]).list_jobs()\n"
        "print(json.dumps([(j.metadata or {}).get('job_name', '') for j in jobs]))\n"
    )
    listed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", script, dashboard],
        env=dict(os.environ, RAY_AUTH_MODE="token"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout.splitlines()[-1]))
