"""Throughput, accuracy and driver memory of ocr_ray against its peers, side by side.

Runs, on the same pages in one go (after the cold-start comparison, ``run_cold_starts``):
  xargs    the tesseract CLI per page through ``xargs -P <cores>`` with OMP_THREAD_LIMIT=1
  threads  a ThreadPoolExecutor over pytesseract (the common naive design, default env)
  pool     a process pool, each process holding one loaded tesserocr engine (engine limit)
  ocr_ray  this project on a local Ray: steady state (Ray up, workers warm) and end to end
           (``ocr-ray run`` as a fresh process, Ray start and export included)

Prints pages/s, ratios, mean CER against the ground truth, and ocr_ray's peak driver RSS.

    .venv/bin/python benchmarks/bench_throughput.py [--pages 32] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "old-books"
FALLBACK_CORPUS = REPO / "examples" / "samples" / "pages"
TESSDATA = os.environ.get("TESSDATA_PREFIX", "/usr/share/tesseract-ocr/5/tessdata")

sys.path.insert(0, str(REPO))
from ocr_ray.accuracy import cer  # noqa: E402


def pick_pages(corpus: Path, count: int) -> list[Path]:
    """Single-page images that have a ground-truth file, in name order."""
    pages = [
        p
        for p in sorted(corpus.glob("*.tif")) + sorted(corpus.glob("*.png"))
        if "-" not in p.stem and _truth_path(p).exists()
    ]
    if len(pages) < count:
        pages = (pages * (count // max(len(pages), 1) + 1))[:count]
    return pages[:count]


def _truth_path(page: Path) -> Path:
    beside = page.with_suffix(".gt.txt")
    if beside.exists():
        return beside
    return page.parent.parent / "ground-truth" / f"{page.stem}.gt.txt"


def mean_cer(texts: dict[str, str], pages: list[Path]) -> float:
    truths = {p: _truth_path(p).read_text(encoding="utf-8") for p in pages}
    return statistics.mean(cer(texts[str(p)], truths[p]) for p in pages)


# Peers ---------------------------------------------------------------------------------
def run_xargs(pages: list[Path], cores: int, workdir: Path) -> dict[str, str]:
    out = workdir / "xargs"
    out.mkdir()
    script = 'tesseract "$1" "$2/$(basename "$1")" >/dev/null 2>&1'
    listing = "\0".join(str(p) for p in pages).encode()
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    subprocess.run(
        ["xargs", "-0", "-P", str(cores), "-I{}", "sh", "-c", script, "sh", "{}", str(out)],
        input=listing,
        env=env,
        check=True,
    )
    return {str(p): (out / f"{p.name}.txt").read_text(encoding="utf-8") for p in pages}


def run_threads(pages: list[Path], cores: int) -> dict[str, str]:
    import pytesseract

    with ThreadPoolExecutor(cores) as pool:
        texts = pool.map(lambda p: pytesseract.image_to_string(str(p)), pages)
        return dict(zip(map(str, pages), texts, strict=True))


_API = None


def _load_engine() -> None:
    import tesserocr

    global _API
    _API = tesserocr.PyTessBaseAPI(path=TESSDATA, lang="eng")


def _pool_ocr(path: str) -> str:
    from PIL import Image

    assert _API is not None
    with Image.open(path) as image:
        _API.SetImage(image)
        return str(_API.GetUTF8Text())


def run_pool(pages: list[Path], cores: int) -> tuple[float, dict[str, str]]:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    with get_context("spawn").Pool(cores, initializer=_load_engine) as pool:
        pool.map(_pool_ocr, [str(pages[0])] * cores)  # engines loaded, processes warm
        started = time.perf_counter()
        texts = pool.map(_pool_ocr, [str(p) for p in pages], chunksize=1)
        elapsed = time.perf_counter() - started
    return elapsed, dict(zip(map(str, pages), texts, strict=True))


# ocr_ray -------------------------------------------------------------------------------
def run_ocr_ray_steady(pages: list[Path], workdir: Path) -> tuple[float, dict[str, str], float]:
    """Seconds for the pages with Ray up and workers warm, texts, and peak driver RSS in MiB."""
    import psutil

    import ocr_ray

    folder = workdir / "steady"
    folder.mkdir()
    for index, page in enumerate(pages):  # unique names: the same page may appear twice
        os.symlink(page, folder / f"{index:03d}-{page.name}")
    store = f"sqlite:///{workdir / 'jobs.db'}"
    ocr_ray.submit(pages[:2], store=store).wait(progress=False)  # start Ray, load engines
    process, peak = psutil.Process(), [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    job = ocr_ray.submit(folder, store=store)
    job.wait(progress=False)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    texts = {}
    for record in job.results():
        original = str(Path(os.readlink(record.path)))
        texts[original] = record.text
    return elapsed, texts, peak[0] / 2**20


def run_ocr_ray_cli(pages: list[Path], workdir: Path, keep_s: float = 0) -> float:
    """``ocr-ray run`` as a fresh process; ``keep_s``: how long a Ray it starts stays."""
    folder = workdir / "e2e"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(workdir / "e2e-out", ignore_errors=True)
    folder.mkdir(parents=True)
    for index, page in enumerate(pages):
        os.symlink(page, folder / f"{index:03d}-{page.name}")
    command = [
        str(REPO / ".venv" / "bin" / "ocr-ray"),
        "--store",
        f"sqlite:///{workdir / 'e2e.db'}",
        "run",
        str(folder),
        "--out",
        str(workdir / "e2e-out"),
        "--quiet",
        "--formats",
        "jsonl",
    ]
    env = dict(os.environ, OCR_RAY_KEEP_LOCAL_RAY_S=str(keep_s))
    started = time.perf_counter()
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def run_cold_starts(pages: list[Path], cores: int, workdir: Path, rounds: int) -> None:
    """A cold ``ocr-ray run`` against ``xargs tesseract``, alternated: a Ray per run
    (``OCR_RAY_KEEP_LOCAL_RAY_S=0``), the first run that keeps its Ray, and a later run
    that finds it warm (a fresh process each time). Prints medians and time ratios."""
    ocr_ray_cli = str(REPO / ".venv" / "bin" / "ocr-ray")
    times: dict[str, list[float]] = {"xargs": [], "own Ray": [], "first": [], "warm": []}
    for n in range(rounds):
        shutil.rmtree(workdir / "xargs", ignore_errors=True)
        times["xargs"].append(timed(lambda: run_xargs(pages, cores, workdir))[0])
        times["own Ray"].append(run_ocr_ray_cli(pages, workdir / f"own{n}"))
        times["first"].append(run_ocr_ray_cli(pages, workdir / f"first{n}", keep_s=600))
        times["warm"].append(run_ocr_ray_cli(pages, workdir / f"warm{n}", keep_s=600))
        subprocess.run([ocr_ray_cli, "down"], check=True, stdout=subprocess.DEVNULL)
        print("round", n + 1, {k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    xargs = statistics.median(times["xargs"])
    print(
        f"\ncold start, {len(pages)} pages, median of {rounds} (time / xargs time; target <= 0.9):"
    )
    for name, label in (
        ("own Ray", "ocr-ray run, a Ray per run"),
        ("first", "ocr-ray run, starting a kept Ray"),
        ("warm", "ocr-ray run, the kept Ray warm"),
    ):
        seconds = statistics.median(times[name])
        print(f"  {label:36} {seconds:6.2f} s  {seconds / xargs:.3f}")
    print(f"  {'xargs -P cores tesseract':36} {xargs:6.2f} s")


def run_ocr_ray_cli_reusing(pages: list[Path], workdir: Path) -> float:
    """``ocr-ray run`` as a fresh process, joining a local Ray that ``ocr-ray up`` started
    (and that a first run warmed), as someone running many jobs a day works."""
    ocr_ray_cli = str(REPO / ".venv" / "bin" / "ocr-ray")
    subprocess.run([ocr_ray_cli, "up"], check=True, stdout=subprocess.DEVNULL)
    try:
        (workdir / "warm").mkdir()
        run_ocr_ray_cli(pages[:2], workdir / "warm")
        shutil.rmtree(workdir / "e2e", ignore_errors=True)
        return run_ocr_ray_cli(pages, workdir)
    finally:
        subprocess.run([ocr_ray_cli, "down"], check=True, stdout=subprocess.DEVNULL)


def timed(fn: Callable[[], dict[str, str]]) -> tuple[float, dict[str, str]]:
    started = time.perf_counter()
    texts = fn()
    return time.perf_counter() - started, texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    corpus = DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else FALLBACK_CORPUS
    parser.add_argument("--pages", type=int, default=32)
    parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start runs")
    args = parser.parse_args()
    pages = pick_pages(args.corpus, args.pages)
    n = len(pages)
    print(f"{n} pages from {args.corpus}, {args.cores} cores")
    with tempfile.TemporaryDirectory(prefix="ocr-ray-bench-") as tmp:
        workdir = Path(tmp)
        os.environ.setdefault("OCR_RAY_HOME", str(workdir / "home"))
        run_cold_starts(pages, args.cores, workdir, args.cold_rounds)
        if args.cold_only:
            return
        results: dict[str, tuple[float, float]] = {}
        t, texts = timed(lambda: run_xargs(pages, args.cores, workdir))
        results["xargs tesseract CLI"] = (t, mean_cer(texts, pages))
        t, texts = timed(lambda: run_threads(pages, args.cores))
        results["threads + pytesseract"] = (t, mean_cer(texts, pages))
        t, texts = run_pool(pages, args.cores)
        results["process pool + tesserocr"] = (t, mean_cer(texts, pages))
        t, texts, peak_mib = run_ocr_ray_steady(pages, workdir)
        results["ocr_ray (steady state)"] = (t, mean_cer(texts, pages))
        import ray

        ray.shutdown()
        e2e = run_ocr_ray_cli(pages, workdir)
        e2e_up = run_ocr_ray_cli_reusing(pages, workdir)

    print(f"\n{'contender':28} {'seconds':>8} {'pages/s':>8} {'mean CER':>9}")
    for name, (seconds, rate_cer) in results.items():
        print(f"{name:28} {seconds:8.2f} {n / seconds:8.2f} {rate_cer:9.4f}")
    print(f"{'ocr-ray run (end to end)':28} {e2e:8.2f} {n / e2e:8.2f}")
    print(f"{'ocr-ray run, after ocr-ray up':28} {e2e_up:8.2f} {n / e2e_up:8.2f}")
    seconds = {name: value[0] for name, value in results.items()}
    ours = seconds["ocr_ray (steady state)"]
    ratios = [
        ("ocr_ray / process pool (engine limit)", seconds["process pool + tesserocr"] / ours, 0.95),
        ("ocr_ray / xargs CLI", seconds["xargs tesseract CLI"] / ours, 1.25),
        ("ocr_ray / threads + pytesseract", seconds["threads + pytesseract"] / ours, None),
        ("end to end: xargs time / ocr-ray run", seconds["xargs tesseract CLI"] / e2e, 1.0),
        ("xargs time / ocr-ray run after up", seconds["xargs tesseract CLI"] / e2e_up, 1.0),
    ]
    print("\nratios (throughput, higher is better for ocr_ray):")
    for label, ratio, target in ratios:
        goal = f"  (target >= {target})" if target else ""
        print(f"  {label:40} {ratio:.3f}{goal}")
    print(f"ocr_ray peak driver RSS during the job: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
