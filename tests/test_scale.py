"""Volume: one walk of the tree, packed tasks, many nodes, and capacity planning."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from ray.cluster_utils import Cluster
from ray.util.state import list_workers

import ocr_ray
from ocr_ray.accuracy import cer
from ocr_ray.engines import get_provider
from ocr_ray.inputs import scan as _scan
from ocr_ray.inputs.pipeline import PageRange, ReadOptions
from ocr_ray.job.dispatch import Dispatcher, Unit
from ocr_ray.job.progress import progress_of
from ocr_ray.job.tasks import TaskOptions
from ocr_ray.models import JobStatus
from ocr_ray.params import JobParams
from ocr_ray.settings import Settings
from ocr_ray.store import open_store
from tests.conftest import PAGES, REPO, distinct_pages, ground_truth
from tests.fault_engines import POISON_WIDTH


def one_line_images(folder: Path, count: int, per_folder: int = 100) -> list[str]:
    """``count`` distinct small images of one line each, ``per_folder`` to a folder."""
    names = []
    for index in range(count):
        sub = folder / f"d{index // per_folder:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        image = Image.new("L", (400, 40), 255)
        ImageDraw.Draw(image).text((8, 12), f"line number {index}", fill=0)
        image.save(sub / f"l{index:05d}.png")
        names.append(f"l{index:05d}.png")
    return names


def test_the_tree_is_walked_once_per_job(
    ray_local: None, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_line_images(tmp_path / "in", 30, per_folder=10)
    listed: list[str] = []
    real_listing = _scan._list_folder

    def counting_listing(fd: int, path: str) -> object:
        if str(path).startswith(str(tmp_path)):
            listed.append(os.path.relpath(path, tmp_path))
        return real_listing(fd, path)

    monkeypatch.setattr(_scan, "_list_folder", counting_listing)
    job = ocr_ray.submit(tmp_path / "in", provider="null", store=store_url)
    summary = job.wait(timeout=120, progress=False)
    assert summary.succeeded == 30 and job.progress().total_known
    assert sorted(listed) == ["in", "in/d000", "in/d001", "in/d002"]  # each folder once


def _unit(index: int, pixels: int) -> Unit:
    return Unit(PageRange(f"/f{index}.png", "image", 0, 0), pixels, pixels)


def test_small_files_are_packed_by_budget_and_a_small_job_still_spreads() -> None:
    settings = Settings(max_in_flight=4, task_pixels=1_000_000, max_files_per_task=8)
    options = TaskOptions("null", ("eng",), ReadOptions(dpi=300), timeout_per_file_s=60)
    dispatcher = Dispatcher(options, get_provider("null"), settings, name="ocr test")
    dispatcher._window_checked = time.monotonic()  # no cluster needed: the window is set

    dispatcher._ready.extend(_unit(i, 100_000) for i in range(100))
    assert len(dispatcher._pack()) == 8  # the file cap (the budget would allow 10)
    dispatcher._ready.clear()
    dispatcher._ready.extend(_unit(i, 300_000) for i in range(100))
    assert len(dispatcher._pack()) == 3  # the pixel budget
    dispatcher._ready.clear()
    dispatcher._ready.extend([_unit(0, 9_000_000), _unit(1, 10)])
    assert len(dispatcher._pack()) == 1  # a full page is a task of its own
    dispatcher._ready.clear()
    dispatcher._ready.extend(_unit(i, 10) for i in range(8))
    assert len(dispatcher._pack()) == 2  # 8 small files over 4 free slots: 2 each
    dispatcher._ready.clear()
    alone = Unit(PageRange("/x.png", "image", 0, 0), 10, 10, alone=True)
    dispatcher._ready.extend([alone, _unit(1, 10), _unit(2, 10)])
    assert dispatcher._pack() == [alone]  # sent again alone after its packed task failed


@pytest.fixture
def setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Sets an ``OCR_RAY_*`` variable for this test and has the settings read again."""
    from ocr_ray.settings import get_settings

    def set_variable(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_variable
    get_settings.cache_clear()  # before monkeypatch restores the environment


def test_a_file_that_kills_its_packed_task_fails_alone(
    ray_local: None, tmp_path: Path, store_url: str, setting: Callable[[str, str], None]
) -> None:
    setting("OCR_RAY_MAX_RETRIES", "1")
    folder = tmp_path / "in"
    names = distinct_pages(folder, 12, page="phototest")  # small: packed together
    page = Image.open(PAGES / "phototest.tif").convert("L")
    page.crop((0, 0, POISON_WIDTH, 200)).save(folder / "p05x-poison.png")
    job = ocr_ray.submit(folder, provider="faulty", store=store_url)
    summary = job.wait(timeout=300, progress=False)
    records = {Path(r.path).name: r for r in job.results()}
    assert sorted(records) == sorted([*names, "p05x-poison.png"])
    poison = records.pop("p05x-poison.png")
    assert poison.error is not None and poison.error.code == "worker_lost"
    assert summary.failed == 1 and summary.succeeded == 12
    for name, record in records.items():  # its task-mates were read again, one by one
        assert cer(record.text, ground_truth("phototest")) <= 0.05, name


@pytest.mark.slow
def test_one_coordinator_feeds_several_nodes_every_file_once(
    cluster: Cluster, tmp_path: Path, store_url: str
) -> None:
    for _ in range(3):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    names = one_line_images(tmp_path / "in", 3000)
    job = ocr_ray.submit(tmp_path / "in", provider="null", address=cluster.address, store=store_url)
    summary = job.wait(timeout=300, progress=False)
    records = list(job.results())
    assert Counter(Path(r.path).name for r in records) == Counter(names)
    assert summary.status is JobStatus.completed and summary.succeeded == 3000
    assert len({r.node_id for r in records}) == 3  # probes and reads spread over the nodes


@pytest.mark.slow
def test_probes_and_reads_share_the_nodes_worker_processes(
    cluster: Cluster, tmp_path: Path, store_url: str, setting: Callable[[str, str], None]
) -> None:
    """Probes between packed Tesseract tasks start no worker processes of their own."""
    setting("OCR_RAY_PROBE_BATCH", "24")  # many probes between the reads
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    one_line_images(tmp_path / "in", 600)
    job = ocr_ray.submit(tmp_path / "in", address=cluster.address, store=store_url)
    summary = job.wait(timeout=300, progress=False)
    assert summary.succeeded == 600
    started = list_workers(
        address=cluster.address, filters=[("worker_type", "=", "WORKER")], limit=1000
    )
    assert len(started) <= 2 + 1, [(w.pid, w.is_alive) for w in started]


def test_plan_from_a_given_rate_and_from_a_finished_job(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'plan.db'}"
    command = [str(REPO / ".venv" / "bin" / "ocr-ray"), "--store", store_url, "plan"]
    given = subprocess.run(
        [*command, "--pages", "5000000", "--within", "7d", "--rate", "0.75"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "8.27 pages/s" in given and "cores: 14 " in given and "workers: 1 of 16" in given
    store = open_store(store_url)  # a finished job: 600 pages in 100 s on 4 CPUs
    store.create_job(job_id="measured", params=JobParams(paths=["/x"]))
    store.start_run(job_id="measured", lease_s=60)
    with store._tx() as db:  # type: ignore[attr-defined]
        db.execute("UPDATE jobs SET pages = 600, started_at = ? WHERE id = 'measured'", (0,))
    store.finish_run(job_id="measured", status=JobStatus.completed, cpus=4)
    with store._tx() as db:  # type: ignore[attr-defined]
        db.execute("UPDATE jobs SET elapsed_prior_s = 100 WHERE id = 'measured'")
    measured = subprocess.run(
        [*command, "--pages", "1500", "--within", "1h"], capture_output=True, text=True, check=True
    ).stdout
    assert "1.500 pages/s per core (job measured: 600 pages in 100 s on 4 CPUs)" in measured
    assert "cores: 1 " in measured  # 0.42 pages/s needed / (1.5 x 0.8)
    bad = subprocess.run([*command, "--pages", "10", "--within", "soon"], capture_output=True)
    assert bad.returncode == 2


def test_a_running_job_projects_its_finish(store_url: str) -> None:
    store = open_store(store_url)
    store.create_job(job_id="j", params=JobParams(paths=["/x"]))
    store.start_run(job_id="j", lease_s=60)
    store.add_files(job_id="j", items=[(i, f"/x/{i}.png") for i in range(10)])
    store.set_scan_total(job_id="j", total=10, complete=True)
    time.sleep(0.2)
    from ocr_ray.models import FileRecord, FileStatus

    store.complete_files(
        job_id="j",
        records=[FileRecord(path=f"/x/{i}.png", status=FileStatus.succeeded) for i in range(5)],
    )
    row = store.get_job("j")
    assert row is not None
    progress = progress_of(row)
    assert progress.eta_s is not None and progress.finish_at is not None
    assert progress.finish_at == pytest.approx(time.time() + progress.eta_s, abs=2)
