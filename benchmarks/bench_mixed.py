"""A mixed collection: ocr_ray (routing each page) against OCRmyPDF, side by side.

Material, built from the shared corpus pages with ground truth and Debian's manuals:
  born-digital  manual pages set by groff and ps2pdf (truth: their own text layer)
  scan-300      image-only PDFs of the bitonal 300 dpi scans
  scan-600      image-only PDFs of 600 dpi greyscale renders of the scans (JPEG)
  poor-layer    the 300 dpi scans with an invisible OCR layer from a poor reading
                (Tesseract at a fifth of the resolution), as old OCR software leaves
  blank         image PDFs whose scans alternate with blank pages (paper and noise)

Peers, one process per core, on the same files, alternating runs:
  ocr_ray   ``ocr-ray run --formats jsonl,pdf`` as a fresh process, with the default
            ``--text-layer auto``: the first run starts the local Ray it keeps warm
            (Ray's start included), later runs find it up; reported apart
  ocrmypdf  ``ocrmypdf -j 1 --output-type pdf --optimize 0`` in its best matching mode
            for each kind: ``--redo-ocr`` on poor-layer files, ``--skip-text`` on the rest

Prints pages/s of each, their ratio, and CER per kind, of the plain text each gives
(ocr_ray's records, OCRmyPDF's sidecar) and of each one's output PDF read back with
``pdftotext``, page by page.

    .venv/bin/python benchmarks/bench_mixed.py [--rounds 3] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "old-books"
MANUALS = ["ls", "cp", "tar", "grep"]
sys.path.insert(0, str(REPO))
from ocr_ray.accuracy import cer  # noqa: E402
from tests import mixed_pdf  # noqa: E402


def build(corpus: Path, folder: Path) -> dict[str, list[str | None]]:
    """Write the collection under ``folder/<kind>/``; each file's page truths (None:
    the page's own text layer, read back from the input)."""
    scans = [p for p in sorted(corpus.glob("*.tif")) if "-" not in p.stem][::3][:8]
    truths: dict[str, list[str | None]] = {}
    for kind in ("born-digital", "scan-300", "scan-600", "poor-layer", "blank"):
        (folder / kind).mkdir(parents=True)
    for name in MANUALS:
        target = folder / "born-digital" / f"{name}.pdf"
        if _manual_pdf(name, target):
            truths[f"born-digital/{name}.pdf"] = [None] * _pages(target)
    for n in range(0, 8, 2):
        pair = scans[n : n + 2]
        texts = [p.with_suffix(".gt.txt").read_text(encoding="utf-8") for p in pair]
        _images_pdf([Image.open(p) for p in pair], folder / "scan-300" / f"s{n}.pdf", 300)
        fine = [_fine(Image.open(p)) for p in pair]
        _images_pdf(fine, folder / "scan-600" / f"f{n}.pdf", 600)
        layered = [
            mixed_pdf.ocr_layered(p, folder / f"l{n}-{k}.pdf", shrink=5) for k, p in enumerate(pair)
        ]
        _merge(layered, folder / "poor-layer" / f"p{n}.pdf")
        blanks = [
            Image.open(pair[0]),
            mixed_pdf.blank_scan(),
            Image.open(pair[1]),
            mixed_pdf.blank_scan(),
        ]
        _images_pdf(blanks, folder / "blank" / f"b{n}.pdf", 300)
        for kind, name, pages in (
            ("scan-300", f"s{n}.pdf", texts),
            ("scan-600", f"f{n}.pdf", texts),
            ("poor-layer", f"p{n}.pdf", texts),
            ("blank", f"b{n}.pdf", [texts[0], "", texts[1], ""]),
        ):
            truths[f"{kind}/{name}"] = list(pages)
    for stray in folder.glob("l*.pdf"):
        stray.unlink()
    return truths


def _manual_pdf(name: str, target: Path) -> bool:
    """A manual page as groff sets it (PostScript, then ps2pdf): a born-digital PDF."""
    source = Path(f"/usr/share/man/man1/{name}.1.gz")
    if not source.exists() or not shutil.which("groff") or not shutil.which("ps2pdf"):
        return False
    troff = gzip.decompress(source.read_bytes())
    ps = subprocess.run(["groff", "-man", "-Tps"], input=troff, capture_output=True, check=True)
    subprocess.run(["ps2pdf", "-", str(target)], input=ps.stdout, check=True)
    return True


def _fine(image: Image.Image) -> Image.Image:
    grey = image.convert("L")
    return grey.resize((grey.width * 2, grey.height * 2), Image.LANCZOS)


def _images_pdf(images: list[Image.Image], path: Path, dpi: int) -> None:
    import img2pdf

    encoded = []
    for image in images:
        with tempfile.SpooledTemporaryFile() as buffer:
            fmt = "JPEG" if dpi > 300 else "PNG"
            image.convert("L").save(buffer, fmt, quality=80, dpi=(dpi, dpi))
            buffer.seek(0)
            encoded.append(buffer.read())
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    path.write_bytes(img2pdf.convert(encoded, layout_fun=layout))


def _merge(parts: list[Path], path: Path) -> None:
    import pikepdf

    with pikepdf.new() as merged:
        for part in parts:
            with pikepdf.open(part) as pdf:
                merged.pages.extend(pdf.pages)
        merged.save(path)


def _pages(path: Path) -> int:
    import pypdfium2

    with pypdfium2.PdfDocument(str(path)) as pdf:
        return len(pdf)


def page_texts(pdf: Path) -> list[str]:
    """Each page's text layer, as ``pdftotext`` reads it."""
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8", "replace").split("\f")[: _pages(pdf)]


def run_ocrmypdf(files: list[Path], root: Path, out: Path, workers: int) -> float:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def one(pdf: Path) -> None:
        mode = "--redo-ocr" if pdf.parent.name == "poor-layer" else "--skip-text"
        target = out / pdf.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        options = ["-q", "-j", "1", mode, "--output-type", "pdf", "--optimize", "0"]
        options += ["--sidecar", str(target.with_suffix(".txt"))]
        command = [sys.executable, "-m", "ocrmypdf", *options, str(pdf), str(target)]
        subprocess.run(command, check=True, env=env)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


def run_ocr_ray(root: Path, out: Path, home: Path) -> float:
    env = dict(os.environ, OCR_RAY_HOME=str(home))
    command = [str(REPO / ".venv" / "bin" / "ocr-ray"), "run", str(root), "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--formats", "jsonl,pdf", "--quiet"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def cer_by_kind(
    truths: dict[str, list[str | None]], root: Path, texts: dict[str, list[str]]
) -> dict[str, float]:
    """Mean CER per kind of ``texts`` (each file's page texts); born-digital pages
    against the input's own text layer."""
    found: dict[str, list[float]] = {}
    for key, pages in truths.items():
        layer = page_texts(root / key)
        for number, truth in enumerate(pages):
            expected = layer[number] if truth is None else truth
            got = texts[key][number] if number < len(texts[key]) else ""
            found.setdefault(key.split("/")[0], []).append(
                cer(got, expected) if expected.strip() else float(bool(got.strip()))
            )
    return {kind: statistics.mean(values) for kind, values in found.items()}


def pdf_texts(truths: dict[str, list[str | None]], outputs: Path) -> dict[str, list[str]]:
    """Each output PDF's page texts, as ``pdftotext`` reads its text layer."""
    return {key: page_texts(_output(outputs, key)) for key in truths}


def plain_texts(
    truths: dict[str, list[str | None]], outputs: Path, *, ours: bool
) -> dict[str, list[str]]:
    """The plain text each gives: ocr_ray's records; OCRmyPDF's sidecar, where the pages
    it skipped (their text layer kept) are read back from its PDF."""
    if ours:
        records = [json.loads(line) for line in (outputs / "results.jsonl").open()]
        by_key = {"/".join(Path(r["path"]).parts[-2:]): r for r in records}
        return {key: [p["text"] for p in by_key[key]["pages"]] for key in truths}
    texts = {}
    for key in truths:
        produced = _output(outputs, key)
        sidecar = produced.with_suffix(".txt").read_text(encoding="utf-8").split("\f")
        layer = page_texts(produced)
        if len(sidecar) != len(layer):  # skipped pages merge into one "[OCR skipped ...]"
            texts[key] = layer
            continue
        texts[key] = [
            layer[n] if "[OCR skipped on page" in page else page for n, page in enumerate(sidecar)
        ]
    return texts


def _output(outputs: Path, key: str) -> Path:
    direct = outputs / key
    return direct if direct.exists() else outputs / "pdf" / f"{key}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as folder:
        work = Path(folder)
        root = work / "in"
        truths = build(args.corpus, root)
        files = sorted(root.glob("*/*.pdf"))
        pages = sum(len(p) for p in truths.values())
        print(
            f"{len(files)} files, {pages} pages: "
            + ", ".join(
                f"{kind} {sum(len(v) for k, v in truths.items() if k.startswith(kind + '/'))}"
                for kind in ("born-digital", "scan-300", "scan-600", "poor-layer", "blank")
            )
        )
        times: dict[str, list[float]] = {"ocr_ray": [], "ocrmypdf": []}
        try:
            for n in range(args.rounds):
                for name in ("ocrmypdf", "ocr_ray") if n % 2 else ("ocr_ray", "ocrmypdf"):
                    out = work / f"{name}-{n}"
                    if name == "ocr_ray":
                        seconds = run_ocr_ray(root, out, work / "home")
                    else:
                        seconds = run_ocrmypdf(files, root, out, workers)
                    times[name].append(seconds)
                    rate = pages / seconds
                    print(f"round {n + 1}: {name} {seconds:.1f} s ({rate:.2f} pages/s)", flush=True)
        finally:
            env = dict(os.environ, OCR_RAY_HOME=str(work / "home"))
            subprocess.run([str(REPO / ".venv" / "bin" / "ocr-ray"), "down"], env=env, check=False)
        theirs = pages / statistics.median(times["ocrmypdf"])
        cold, warm = (
            pages / times["ocr_ray"][0],
            pages / statistics.median(times["ocr_ray"][1:] or times["ocr_ray"]),
        )
        print(
            f"pages/s: ocrmypdf {theirs:.2f} (median); ocr_ray first run {cold:.2f} "
            f"(starts the kept local Ray), later runs {warm:.2f} (median, the Ray warm)"
        )
        ratios = f"first run {cold / theirs:.2f}x, later runs {warm / theirs:.2f}x"
        print(f"ratio ocr_ray / ocrmypdf: {ratios}")
        ours, theirs_out = work / "ocr_ray-0", work / "ocrmypdf-0"
        columns = {
            "ocr_ray text": cer_by_kind(truths, root, plain_texts(truths, ours, ours=True)),
            "ocrmypdf text": cer_by_kind(truths, root, plain_texts(truths, theirs_out, ours=False)),
            "ocr_ray PDF": cer_by_kind(truths, root, pdf_texts(truths, ours)),
            "ocrmypdf PDF": cer_by_kind(truths, root, pdf_texts(truths, theirs_out)),
        }
        print("\nCER per kind (text: the records / the sidecar; PDF: its text layer, pdftotext):")
        print(f"{'kind':13s} " + " ".join(f"{name:>14s}" for name in columns))
        for kind in columns["ocr_ray text"]:
            print(f"{kind:13s} " + " ".join(f"{c[kind]:14.4f}" for c in columns.values()))


if __name__ == "__main__":
    main()
