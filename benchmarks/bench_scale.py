"""ocr_ray at volume: one job of many small page images, measured side by side.

Generates one-line page images at run time (nothing is stored in the repository), then:

1. Coordinator: one job over all of them with an engine that reads nothing
   (``benchmarks/null_engine.py``) on a simulated cluster (``ray.cluster_utils.Cluster``,
   several nodes): files/s for the scan, the probes, the dispatch and the records, and
   the driver's RSS at 10K, 50K and 100K files.
2. JobStore and exports: the job's SQLite size, and the time and peak RSS of writing
   ``results.jsonl``, ``.csv`` and the ZIP.
3. OCR: the first ``--ocr-files`` images read by real Tesseract, by a process pool that
   holds one loaded engine per process (the engine's limit), before and after ocr_ray on a
   local Ray (steady state: Ray up, engines loaded), with the ratio to the pool's mean,
   the worker processes Ray started, and every Ray worker's RSS at the start and the end
   of that job.

    .venv/bin/python benchmarks/bench_scale.py [--files 100000] [--ocr-files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing import Pool, get_context
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_throughput import _load_engine, _pool_ocr  # noqa: E402
from tests import plugin_dist  # noqa: E402

os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
plugin_dist.install(
    Path(tempfile.mkdtemp(prefix="ocr-ray-bench-")),
    "ocr-ray-bench-plugins",
    {"ocr_ray.engines": {"null": "benchmarks.null_engine:NullProvider"}},
)
os.environ["OMP_THREAD_LIMIT"] = "1"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MARKS = (10_000, 50_000, 100_000)


# Material -------------------------------------------------------------------------------
def _make_image(args: tuple[str, int]) -> None:
    from PIL import Image, ImageDraw, ImageFont

    root, index = args
    folder = os.path.join(root, f"d{index // 1000:04d}")
    os.makedirs(folder, exist_ok=True)
    font = ImageFont.truetype(FONT, 28) if os.path.exists(FONT) else ImageFont.load_default()
    image = Image.new("L", (900, 48), 255)
    text = f"Line {index} of the scale benchmark, quick brown fox"
    ImageDraw.Draw(image).text((10, 8), text, fill=0, font=font)
    image.save(os.path.join(folder, f"l{index:07d}.png"), dpi=(300, 300))


def generate(root: Path, count: int) -> float:
    """Write ``count`` distinct one-line images in folders of 1000; returns seconds."""
    started = time.perf_counter()
    with Pool(os.cpu_count() or 2) as pool:
        pool.map(_make_image, [(str(root), i) for i in range(count)], chunksize=500)
    return time.perf_counter() - started


# Measuring ------------------------------------------------------------------------------
class Sampler:
    """Calls ``sample()`` every ``interval`` seconds on a thread while in use."""

    interval = 0.05

    def __init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._done.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


class PeakRss(Sampler):
    """The peak RSS of one process."""

    def __init__(self, pid: int | None = None) -> None:
        import psutil

        super().__init__()
        self.process, self.peak = psutil.Process(pid), 0

    def sample(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)


class WorkerProcesses(Sampler):
    """Every Ray worker process seen: more than the CPUs means Ray started and killed
    processes during the job (a Python start each)."""

    interval = 0.2

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def sample(self) -> None:
        self.seen |= set(ray_workers())


def rss_mib(pid: int | None = None) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def ray_workers() -> dict[int, float]:
    """RSS (MiB) of every Ray worker process on this machine (not Ray's agents)."""
    import psutil

    found = {}
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].startswith("ray::") and not cmdline[0].endswith("Agent"):
            try:
                found[process.pid] = process.memory_info().rss / 2**20
            except psutil.Error:  # it ended while being listed
                continue
    return found


def follow(job, marks: tuple[int, ...], on_mark: Callable[[int, float], None]) -> float:
    """Wait for ``job``, calling ``on_mark(files, seconds)`` as each mark is passed."""
    started, pending = time.perf_counter(), list(marks)
    while True:
        progress = job.progress()
        while pending and progress.current >= pending[0]:
            on_mark(pending.pop(0), time.perf_counter() - started)
        if progress.status.finished or progress.status.value == "interrupted":
            return time.perf_counter() - started
        time.sleep(0.2)


# 1 and 2: the coordinator, the store, the exports -------------------------------------------
def coordinator(images: Path, work: Path, files: int, nodes: int, cpus: int) -> dict[str, float]:
    import ray
    from ray.cluster_utils import Cluster

    import ocr_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus)
    ray.init(address=cluster.address, log_to_driver=False)
    store = f"sqlite:///{work / 'scale.db'}"
    ocr_ray.submit(images / "d0000", provider="null", store=store).wait(progress=False)  # warm
    results: dict[str, float] = {"rss_start": rss_mib()}
    marks = tuple(m for m in MARKS if m <= files) or (files,)

    def on_mark(done: int, seconds: float) -> None:
        results[f"rss_{done}"], results[f"t_{done}"] = rss_mib(), seconds
        print(f"  {done:>7,} files  {seconds:7.1f} s  driver RSS {rss_mib():6.0f} MiB", flush=True)

    import psutil

    cpu_before = sum(psutil.Process().cpu_times()[:2])
    job = ocr_ray.submit(images, provider="null", store=store)
    results["seconds"] = follow(job, marks, on_mark)
    # The driver's own CPU: what one coordinator could sustain with a core to itself,
    # whatever this machine's workers (sharing its cores) allowed in wall time.
    results["driver_cpu_s"] = sum(psutil.Process().cpu_times()[:2]) - cpu_before
    summary = job.summary()
    assert summary.total_files == files and summary.succeeded == files, summary
    results["store_mib"] = sum(p.stat().st_size for p in work.glob("scale.db*")) / 2**20
    for fmt in ("jsonl", "csv", "zip"):
        with PeakRss() as peak:
            started = time.perf_counter()
            job.export(work / f"export-{fmt}", [fmt])
            results[f"export_{fmt}_s"] = time.perf_counter() - started
        results[f"export_{fmt}_rss"] = peak.peak / 2**20
    ray.shutdown()
    cluster.shutdown()
    return results


# 3: OCR against the engine's limit ---------------------------------------------------------
def run_pool(paths: list[str], cores: int) -> float:
    with get_context("spawn").Pool(cores, initializer=_load_engine) as pool:
        pool.map(_pool_ocr, paths[:cores])  # engines loaded, processes warm
        started = time.perf_counter()
        pool.map(_pool_ocr, paths, chunksize=8)
        return time.perf_counter() - started


def run_ocr_ray(
    folder: Path, work: Path, count: int
) -> tuple[float, dict[int, float], dict[int, float], int]:
    """Seconds for the job, worker RSS before and after it, and worker processes seen."""
    import ocr_ray

    store = f"sqlite:///{work / 'ocr.db'}"
    warm = sorted(folder.rglob("*.png"))[:4]
    ocr_ray.submit(warm, store=store).wait(progress=False)  # Ray up, engines loaded
    before = ray_workers()
    with WorkerProcesses() as processes:
        started = time.perf_counter()
        job = ocr_ray.submit(folder, store=store)
        job.wait(progress=False)
        elapsed = time.perf_counter() - started
    after = ray_workers()
    summary = job.summary()
    assert summary.succeeded == count, summary
    return elapsed, before, after, len(processes.seen)


def ocr_subset(images: Path, work: Path, count: int) -> dict[str, float]:
    """Pool, ocr_ray, pool again, in one run: the ratio is taken against the two pool
    runs' mean, so a change in the machine's speed over the minutes weighs on both."""
    subset = work / "ocr-subset"
    subset.mkdir()
    paths = sorted(str(p) for p in images.rglob("*.png"))[:count]
    for index, path in enumerate(paths):
        os.symlink(path, subset / f"{index:07d}.png")
    cores = os.cpu_count() or 2
    pool_before = run_pool(paths, cores)
    print(f"  pool: {count / pool_before:7.1f} files/s", flush=True)
    ocr_s, before, after, processes = run_ocr_ray(subset, work, count)
    print(f"  ocr_ray: {count / ocr_s:7.1f} files/s", flush=True)
    pool_after = run_pool(paths, cores)
    print(f"  pool again: {count / pool_after:7.1f} files/s", flush=True)
    print(f"  Ray worker processes seen during the job: {processes}")
    for pid in sorted(set(before) | set(after)):
        start, end = before.get(pid), after.get(pid)
        print(f"  worker {pid}: RSS {start or 0:6.0f} -> {end or 0:6.0f} MiB", flush=True)
    return {"pool_s": (pool_before + pool_after) / 2, "ocr_s": ocr_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--ocr-files", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=4, help="simulated nodes")
    parser.add_argument("--cpus-per-node", type=int, default=4)
    parser.add_argument("--skip-ocr", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ocr-ray-scale-"))
    images = work / "images"
    try:
        print(f"generating {args.files:,} one-line images ...", flush=True)
        print(f"  {generate(images, args.files):.0f} s", flush=True)
        print(
            f"coordinator: null engine, {args.nodes} simulated nodes x {args.cpus_per_node} CPUs",
            flush=True,
        )
        c = coordinator(images, work, args.files, args.nodes, args.cpus_per_node)
        first = min(m for m in MARKS if f"t_{m}" in c) if any(f"t_{m}" in c for m in MARKS) else 0
        steady = (args.files - first) / (c["seconds"] - c.get(f"t_{first}", 0)) if first else 0
        print(f"  {args.files / c['seconds']:.0f} files/s overall, {steady:.0f} after {first:,}")
        print(
            f"  driver CPU {c['driver_cpu_s']:.1f} s: one coordinator with a core to itself "
            f"sustains {args.files / c['driver_cpu_s']:.0f} files/s"
        )
        if f"rss_{MARKS[-1]}" in c:  # a job of 100K files or more
            growth = c[f"rss_{MARKS[-1]}"] - c[f"rss_{MARKS[0]}"]
            print(f"  driver RSS growth from 10K to 100K files: {growth:+.0f} MiB")
        print(f"store: {c['store_mib']:.0f} MiB for {args.files:,} records")
        for fmt in ("jsonl", "csv", "zip"):
            print(
                f"export {fmt}: {c[f'export_{fmt}_s']:.1f} s, "
                f"peak RSS {c[f'export_{fmt}_rss']:.0f} MiB"
            )
        if not args.skip_ocr:
            print(f"OCR of {args.ocr_files:,} of them with Tesseract, on this machine:", flush=True)
            o = ocr_subset(images, work, args.ocr_files)
            print(f"  ratio ocr_ray / pool mean (throughput): {o['pool_s'] / o['ocr_s']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
