"""A hostile world: names no text encoding accepts, a folder swapped for a link while the
walk runs, folders that cannot be listed, paths past PATH_MAX, link loops and a full
disk. Every entry gets one record with a code; no name outside the root is listed; no
write leaves a broken file."""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import ocr_ray
from ocr_ray.accuracy import cer
from ocr_ray.inputs.scan import WalkError, iter_files
from tests.cli_process import cli, cli_bound_by_file_modes
from tests.conftest import PAGES, ApiServer, ground_truth, wait_done

ODD_NAME = os.fsdecode(b"x\xff.tif")  # not UTF-8: Python holds the byte as a surrogate
SHOWN = "x\\xff.tif"  # how records, CSV, JSON, ZIP and the page show it


def _outcome(record: ocr_ray.FileRecord) -> str:
    return record.error.code if record.error else record.status.value


@pytest.mark.usefixtures("ray_local")
def test_a_name_that_is_not_utf8_is_read_and_kept_exactly(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.tif", "b.tif", "c.tif"):
        shutil.copy(PAGES / "c015.tif", folder / name)
    shutil.copy(PAGES / "phototest.tif", os.path.join(folder, ODD_NAME))
    job = ocr_ray.submit(folder, store=store_url, formats=["jsonl", "csv", "zip"])
    summary = job.wait(timeout=300, progress=False)
    assert (summary.status, summary.succeeded, summary.failed) == ("completed", 4, 0)
    odd = next(r for r in job.results() if r.path.endswith(SHOWN))
    assert odd.path_bytes == os.fsencode(os.path.join(folder, ODD_NAME)).hex()
    assert odd.source_path == os.path.join(folder, ODD_NAME)  # the exact name, to open
    assert cer(odd.text, ground_truth("phototest")) <= 0.03
    written = job.export(tmp_path / "out")
    lines = [json.loads(line) for line in written["jsonl"].read_text().splitlines()]
    assert sum(line["path"].endswith(SHOWN) for line in lines) == 1
    assert SHOWN in written["csv"].read_text(encoding="utf-8")
    with zipfile.ZipFile(written["zip"]) as archive:
        assert "results.jsonl" in archive.namelist()


def test_a_name_that_is_not_utf8_through_the_api(api_server: ApiServer) -> None:
    folder = api_server.root / "odd-names"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", os.path.join(folder, ODD_NAME))
    shutil.copy(PAGES / "c015.tif", folder / "plain.tif")
    with api_server.client() as http:
        body = {"folder_path": "odd-names"}
        job_id = http.post("/api/bulk/process", json=body).raise_for_status().json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 2
        files = http.get(f"/api/bulk/files/{job_id}").raise_for_status().json()
        assert sorted(Path(f["path"]).name for f in files) == ["plain.tif", SHOWN]


def test_a_folder_with_every_walk_failure_loses_nothing(tmp_path: Path) -> None:
    """The folder that was once silently lost whole: two good pages, a name that is not
    UTF-8, a page below a path longer than PATH_MAX, a link loop, and a folder nobody
    may list. Each entry is one record with its code; the good pages are read."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PAGES / "c015.tif", folder / "good1.tif")
    shutil.copy(PAGES / "d027.tif", folder / "good2.tif")
    shutil.copy(PAGES / "phototest.tif", os.path.join(folder, ODD_NAME))
    deep = _deep_page(folder / "deep", PAGES / "phototest.tif", levels=200)
    os.symlink("loop-b", folder / "loop-a")
    os.symlink("loop-a", folder / "loop-b")
    (folder / "locked").mkdir()
    shutil.copy(PAGES / "c015.tif", folder / "locked" / "inside.tif")
    (folder / "locked").chmod(0)
    out = tmp_path / "out"
    done = cli_bound_by_file_modes("run", str(folder), "--out", str(out), "--quiet", home=tmp_path)
    assert done.returncode == 1, done.stderr  # some files failed; the job completed
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    outcomes = {os.path.relpath(r["path"], folder): _code(r) for r in records}
    assert outcomes == {
        "good1.tif": "succeeded",
        "good2.tif": "succeeded",
        SHOWN: "succeeded",
        deep: "path_too_long",
        "loop-a": "link_loop",
        "loop-b": "link_loop",
        "locked": "permission_denied",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["total_files"], summary["succeeded"], summary["failed"]) == (7, 3, 4)


def _code(record: dict) -> str:
    return record["error"]["code"] if record["error"] else record["status"]


def _deep_page(top: Path, page: Path, *, levels: int) -> str:
    """A page ``levels`` folders of 30 characters down, made relative to each folder's
    descriptor (its whole path is too long for the system); its path under ``top``'s
    parent."""
    name = "d" * 30
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        target = os.open("page.tif", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        with os.fdopen(target, "wb") as out:
            out.write(page.read_bytes())
    finally:
        os.close(fd)
    return os.path.join(top.name, *[name] * levels, "page.tif")


def test_a_link_swapped_in_during_the_walk_never_leads_out_of_the_root(tmp_path: Path) -> None:
    """A real folder and a link to a folder outside, exchanged continuously while the
    tree is walked: the walk lists no name from outside, however the swaps fall."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    race = root / "race"
    (race / "sub").mkdir(parents=True)
    (race / "sub" / "inside.png").write_bytes(b"x")
    outside.mkdir()
    for index in range(50):
        (outside / f"secret-{index:02d}.png").write_bytes(b"x")
    os.symlink(outside, race / "alt")
    leaked, walks = [], 0
    with _swapping(race / "sub", race / "alt"):
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and walks < 4000:
            found = [f for f in iter_files([str(race)], root=str(root)) if isinstance(f, str)]
            leaked += [f for f in found if "secret-" in f]
            walks += 1
    assert walks > 100
    assert leaked == []


@contextlib.contextmanager
def _swapping(first: Path, second: Path) -> Iterator[None]:
    """Exchange two names atomically (renameat2 RENAME_EXCHANGE), over and over."""
    libc = ctypes.CDLL(None, use_errno=True)
    exchange, at_cwd = 2, -100
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            libc.renameat2(at_cwd, bytes(first), at_cwd, bytes(second), exchange)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_walk_errors_are_found_not_raised(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    found = list(iter_files([str(tmp_path)]))
    assert {(Path(f.path).name, f.code.value) for f in found if isinstance(f, WalkError)} == {
        ("a", "link_loop"),
        ("b", "link_loop"),
    }


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 2 MiB tmpfs, to fill up; skipped where tmpfs cannot be mounted (not root)."""
    folder = Path(tempfile.mkdtemp(prefix="ocr-ray-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def test_a_full_disk_stops_the_job_cleanly_and_resume_finishes_it(
    tmp_path: Path, small_disk: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(6):  # six distinct scans, whose PDFs will not fit in 2 MiB
        shutil.copy(PAGES / ("c015.tif" if index % 2 else "d027.tif"), folder / f"p{index}.tif")
        with (folder / f"p{index}.tif").open("ab") as page:
            page.write(bytes([index]))  # distinct content, so none is a copy of another
    out = small_disk / "out"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * (free - 80_000))  # room for two PDFs
    args = ["run", str(folder), "--out", str(out), "--formats", "jsonl,csv,pdf", "--quiet"]
    done = cli(*args, "--job-id", "full-disk", home=tmp_path)
    assert done.returncode == 6, done.stderr  # the output could not be written
    assert "free space, then run again with --resume" in done.stderr
    assert "Traceback" not in done.stderr
    for leftover in out.rglob("*"):  # nothing written is truncated or half-named
        assert not leftover.name.endswith(".partial"), leftover
        if leftover.suffix == ".pdf":
            assert leftover.read_bytes().rstrip().endswith(b"%%EOF"), leftover
    status = json.loads(cli("status", "full-disk", "--json", home=tmp_path).stdout)
    assert status["succeeded"] + status["failed"] < 6  # the rest is pending, not lost
    (small_disk / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = cli("run", "--resume", "full-disk", "--out", str(out), "--quiet", home=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in records) == [f"p{i}.tif" for i in range(6)]
    assert all(r["status"] == "succeeded" for r in records)
    assert sorted(p.name for p in (out / "pdf").iterdir()) == [f"p{i}.tif.pdf" for i in range(6)]


def test_export_says_when_files_are_still_pending(tmp_path: Path) -> None:
    from ocr_ray.params import JobParams
    from ocr_ray.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'home' / 'jobs.db'}")
    store.create_job(job_id="half", params=JobParams(paths=[str(tmp_path)]))
    store.add_files(job_id="half", items=[(0, "/a.png"), (1, "/b.png")])
    store.set_scan_total(job_id="half", total=2, complete=True)
    done = cli("export", "half", "--out", str(tmp_path / "out"), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "with 2 files not done" in done.stderr


def test_an_upload_without_a_key_is_refused_before_its_body_is_read(
    api_server: ApiServer,
) -> None:
    """Headers announce 200 MB; a few KB are sent; the 401 comes without the rest."""
    host, port = api_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(
            b"POST /api/bulk/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 200000000\r\n\r\n--b\r\n" + b"x" * 4096
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_422_quotes_only_an_excerpt_of_a_huge_value(api_server: ApiServer) -> None:
    with api_server.client() as http:
        answer = http.post("/api/bulk/process", json={"folder_path": "x" * 1_000_000})
        assert answer.status_code == 422
        assert len(answer.content) < 4_000
        assert answer.json()["detail"][0]["loc"] == ["body", "folder_path"]
        unknown = http.post("/api/bulk/process", json={"folder_path": "samples", "z" * 9000: 1})
        assert unknown.status_code == 422 and len(unknown.content) < 20_000


def test_upload_members_with_the_same_safe_name_are_both_kept(api_server: ApiServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a?b.tif", (PAGES / "c015.tif").read_bytes())
        archive.writestr("a*b.tif", (PAGES / "phototest.tif").read_bytes())
    with api_server.client() as http:
        files = {"files": ("two.zip", buffer.getvalue(), "application/zip")}
        job_id = http.post("/api/bulk/upload", files=files).raise_for_status().json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 2
        names = sorted(Path(f["path"]).name for f in http.get(f"/api/bulk/files/{job_id}").json())
        assert names == ["a_b-2.tif", "a_b.tif"]
        audit = http.get("/api/admin/audit", params={"job_id": job_id}).json()
        assert [entry["detail"] for entry in audit] == ["upload of 2 files"]


@pytest.mark.usefixtures("ray_local")
def test_an_owner_password_pdf_is_read_and_says_so(tmp_path: Path, store_url: str) -> None:
    from PIL import Image
    from pypdf import PdfReader, PdfWriter

    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(PAGES / "phototest.tif").convert("L").save(folder / "plain.pdf")
    writer = PdfWriter(clone_from=PdfReader(folder / "plain.pdf"))
    writer.encrypt(user_password="", owner_password="owner-secret")
    writer.write(folder / "owner.pdf")
    job = ocr_ray.submit(folder, store=store_url)
    job.wait(timeout=300, progress=False)
    records = {Path(r.path).name: r for r in job.results()}
    assert records["owner.pdf"].status is ocr_ray.FileStatus.succeeded
    assert records["owner.pdf"].encrypted == "owner-password"
    assert records["plain.pdf"].encrypted is None
    assert cer(records["owner.pdf"].text, ground_truth("phototest")) <= 0.05
