"""Scanned PDFs: ocr_ray against OCRmyPDF, side by side, on clean and degraded copies.

Material, built from the shared corpus pages with ground truth:
  clean     image-only PDFs, 3 pages each, the bitonal 300 dpi scans as they are (img2pdf)
  degraded  the same pages as a scanner of lesser quality gives them: greyscale, turned
            by a small angle, blurred, with sensor noise, stored as JPEG at 300 dpi

Peers, one process per core on the same PDFs:
  ocrmypdf  ``ocrmypdf -j 1 --force-ocr --output-type pdf --optimize 0 --sidecar``
  ocr_ray   ``ocr-ray run --formats jsonl,pdf`` (searchable PDFs written too), end to end:
            a fresh process that starts Ray, reads, exports and stops Ray
  Ray up    the same job submitted in-process to a Ray that is already running with
            engines loaded, as on a cluster or a long-lived local Ray

Prints pages/s, the ratio, and mean CER on each half (OCRmyPDF's sidecar text, ocr_ray's
JSON Lines, and each one's PDF text layer read back with ``pdftotext -layout``).

    .venv/bin/python benchmarks/bench_pdf.py [--docs 6] [--corpus DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "old-books"
PAGES_PER_DOC = 3
sys.path.insert(0, str(REPO))
from ocr_ray.accuracy import cer  # noqa: E402


def degrade(image: Image.Image, seed: int) -> bytes:
    """A scan-like copy as JPEG bytes: small tilt, blur, lower contrast, noise."""
    rng = np.random.default_rng(seed)
    tilt = float(rng.uniform(-1.5, 1.5))
    grey = image.convert("L").rotate(tilt, expand=True, fillcolor=255, resample=Image.BICUBIC)
    grey = grey.filter(ImageFilter.GaussianBlur(1.4))
    pixels = np.asarray(grey, dtype=np.float32) * 0.75 + 40
    pixels += rng.normal(0, 20, size=pixels.shape)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=35, dpi=(300, 300))
    return buffer.getvalue()


def build_material(corpus: Path, docs: int, folder: Path) -> dict[str, list[str]]:
    """Write ``docs`` clean and ``docs`` degraded PDFs; return each PDF's page truths."""
    import img2pdf

    pages = [p for p in sorted(corpus.glob("*.tif")) if "-" not in p.stem]
    pages = [p for p in pages if p.with_suffix(".gt.txt").exists()]
    truths: dict[str, list[str]] = {}
    for half in ("clean", "degraded"):
        (folder / half).mkdir(parents=True, exist_ok=True)
    for number in range(docs):
        chosen = [pages[(number * PAGES_PER_DOC + k) % len(pages)] for k in range(PAGES_PER_DOC)]
        texts = [p.with_suffix(".gt.txt").read_text(encoding="utf-8") for p in chosen]
        name = f"doc{number + 1:02d}.pdf"
        (folder / "clean" / name).write_bytes(img2pdf.convert([str(p) for p in chosen]))
        degraded = []
        for k, page in enumerate(chosen):
            with Image.open(page) as image:
                degraded.append(degrade(image, seed=number * 10 + k))
        (folder / "degraded" / name).write_bytes(img2pdf.convert(degraded))
        truths[f"clean/{name}"] = texts
        truths[f"degraded/{name}"] = texts
    return truths


def run_ocrmypdf(inputs: list[Path], out: Path, workers: int) -> tuple[float, dict[str, str]]:
    """OCRmyPDF, one process per core; returns seconds and each PDF's sidecar text."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def one(pdf: Path) -> tuple[str, str]:
        key = f"{pdf.parent.name}/{pdf.name}"
        target = out / key.replace("/", "-")
        sidecar = target.with_suffix(".txt")
        options = ["-q", "-j", "1", "--force-ocr", "--output-type", "pdf", "--optimize", "0"]
        command = [sys.executable, "-m", "ocrmypdf", *options, "--sidecar", str(sidecar)]
        subprocess.run([*command, str(pdf), str(target)], check=True, env=env)
        return key, sidecar.read_text(encoding="utf-8")

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        texts = dict(pool.map(one, inputs))
    return time.perf_counter() - started, texts


def run_ocr_ray(source: Path, out: Path, home: Path) -> tuple[float, dict[str, str], Path]:
    """``ocr-ray run`` as a fresh process; returns seconds, texts and the output folder."""
    env = dict(os.environ, OCR_RAY_HOME=str(home))
    started = time.perf_counter()
    command = [str(REPO / ".venv" / "bin" / "ocr-ray"), "run", str(source), "--out", str(out)]
    subprocess.run(
        [*command, "--formats", "jsonl,pdf", "--quiet"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    texts = {}
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        path = Path(record["path"])
        texts[f"{path.parent.name}/{path.name}"] = record["text"]
    return seconds, texts, out


def run_ocr_ray_up(source: Path, out: Path, home: Path) -> tuple[float, dict[str, str]]:
    """The job on a Ray that is already up (a warm-up job starts it and loads engines)."""
    os.environ["OCR_RAY_HOME"] = str(home)
    import ocr_ray

    store = f"sqlite:///{home / 'up.db'}"
    warm = sorted(source.glob("*/*.pdf"))[:1]
    ocr_ray.submit(warm, store=store, formats=["jsonl", "pdf"], out_dir=out / "warm").wait(
        progress=False
    )
    started = time.perf_counter()
    job = ocr_ray.submit(source, store=store, formats=["jsonl", "pdf"], out_dir=out)
    job.wait(progress=False)
    seconds = time.perf_counter() - started
    texts = {f"{Path(r.path).parent.name}/{Path(r.path).name}": r.text for r in job.results()}
    return seconds, texts


def pdf_layer_texts(pdfs: dict[str, Path]) -> dict[str, str]:
    """The searchable PDFs' text layers as ``pdftotext`` reads them."""
    texts = {}
    for key, pdf in pdfs.items():
        texts[key] = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
    return texts


def mean_cer(texts: dict[str, str], truths: dict[str, list[str]], half: str) -> float:
    scores = [
        cer(texts[key], "\n".join(pages)) for key, pages in truths.items() if key.startswith(half)
    ]
    return sum(scores) / len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=6, help="PDFs per half (3 pages each)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="keep material and outputs here")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    base = args.keep or Path(tempfile.mkdtemp(prefix="ocr-ray-bench-pdf-"))
    try:
        truths = build_material(args.corpus, args.docs, base / "in")
        inputs = sorted((base / "in").glob("*/*.pdf"))
        pages = len(inputs) * PAGES_PER_DOC
        peer_s, peer = run_ocrmypdf(inputs, base / "ocrmypdf", workers)
        ours_s, ours, out = run_ocr_ray(base / "in", base / "ocr_ray", base / "home")
        layer = pdf_layer_texts({key: out / "pdf" / key for key in truths})
        peer_layer = pdf_layer_texts(
            {key: base / "ocrmypdf" / key.replace("/", "-") for key in truths}
        )
        up_s, up = run_ocr_ray_up(base / "in", base / "ocr_ray_up", base / "home")
        print(f"{len(inputs)} PDFs, {pages} pages, {workers} cores")
        print(f"{'':10} {'pages/s':>8} {'CER clean':>10} {'CER degraded':>13}")
        rows = [
            ("ocrmypdf", peer_s, peer),
            ("  its PDF", peer_s, peer_layer),
            ("ocr_ray", ours_s, ours),
            ("  its PDF", ours_s, layer),
            ("Ray up", up_s, up),
        ]
        for name, seconds, texts in rows:
            print(
                f"{name:10} {pages / seconds:8.3f} {mean_cer(texts, truths, 'clean'):10.4f} "
                f"{mean_cer(texts, truths, 'degraded'):13.4f}"
            )
        print(f"ocr_ray / ocrmypdf pages/s, end to end: {peer_s / ours_s:.2f}x")
        print(f"ocr_ray / ocrmypdf pages/s, Ray up:     {peer_s / up_s:.2f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
