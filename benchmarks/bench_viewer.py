"""The results viewer's questions of a store at volume: a job of 100,000 files.

Writes a job as its coordinator does (batches of 64 final records, each page with its
word boxes packed as a real page's are), with 2% failed files, 5% with a page to
review, and one word that is on one file's one page only. Then times what the viewer
asks, each the median of several tries: the file list's first page, a page deep into
it, the failed and to-review filters, a search for a common word, for two words, and
for the word on one page, one file's detail and one page's word boxes. SQLite shows
its query plans, so an index, not a scan, is seen to answer. Each store in turn:
SQLite, and MongoDB (the test-time server, SecantusDB, or any mongod given).

    .venv/bin/python benchmarks/bench_viewer.py [--files 100000] [--pages 2]
        [--stores sqlite,mongodb] [--mongo-url mongodb://HOST/DB]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_store import each_store, page_text  # noqa: E402
from ocr_ray.exceptions import ErrorCode  # noqa: E402
from ocr_ray.models import (  # noqa: E402
    ErrorInfo,
    FileRecord,
    FileStatus,
    JobStatus,
    PageResult,
    PageWarning,
)
from ocr_ray.params import JobParams  # noqa: E402
from ocr_ray.plugins import Word  # noqa: E402
from ocr_ray.store import FileQuery, JobStore, open_store, search_terms  # noqa: E402
from ocr_ray.wordboxes import pack  # noqa: E402

_WRITE = 64
_RARE = "zanzibarite"  # on one page of one file
_TRIES = 7


def _boxes(text: str) -> bytes:
    """Word boxes laid out as lines of a 2480 x 3508 page (A4 at 300 dpi)."""
    words, x, y = [], 200, 200
    for word in text.split():
        width = 40 * len(word)
        if x + width > 2280:
            x, y = 200, y + 60
        words.append(Word(word, (x, y, x + width, y + 48), 90.0))
        x += width + 30
    return pack(words, (2480, 3508))


def _path(index: int) -> str:
    return f"/data/inputs/box{index // 1000:05d}/doc{index:07d}.pdf"


def _record(index: int, pages: int, texts: list[str], blobs: list[bytes], rare: int) -> FileRecord:
    path = _path(index)
    if index % 50 == 7:
        return FileRecord(
            path=path,
            status=FileStatus.failed,
            error=ErrorInfo(code=ErrorCode.corrupt_pdf.value, message=f"{path}: not a PDF"),
        )
    results = []
    for n in range(pages):
        text = texts[(index + n) % len(texts)]
        if index == rare and n == 0:
            text = f"{text} {_RARE}"
        warned = [PageWarning.low_confidence] if index % 20 == 3 and n == 0 else []
        page = PageResult(number=n + 1, text=text, confidence=91.5, warnings=warned)
        page.words = blobs[(index + n) % len(blobs)]
        results.append(page)
    return FileRecord(
        path=path,
        status=FileStatus.succeeded,
        sha256=f"{index:064x}",
        size_bytes=250_000,
        pages=results,
        text="\f".join(page.text for page in results),
        warnings=sorted({w for p in results for w in p.warnings}),
        confidence=91.5,
        engine="tesseract",
        attempts=1,
    )


def fill(store: JobStore, args: argparse.Namespace, rare: int) -> float:
    rng = random.Random(11)
    texts = [page_text(rng, args.chars) for _ in range(499)]
    blobs = [_boxes(t) for t in texts]
    started = time.perf_counter()
    store.create_job(job_id="big", params=JobParams(paths=["/data/inputs"]))
    store.start_run(job_id="big", lease_s=3600)
    for first in range(0, args.files, 1024):
        ids = range(first, min(first + 1024, args.files))
        store.add_files(job_id="big", items=[(i, _path(i)) for i in ids])
    for first in range(0, args.files, _WRITE):
        batch = [
            _record(i, args.pages, texts, blobs, rare)
            for i in range(first, min(first + _WRITE, args.files))
        ]
        store.complete_files(job_id="big", records=batch)
    store.finish_run(job_id="big", status=JobStatus.completed)
    return time.perf_counter() - started


def _median_ms(ask: Callable[[], object]) -> tuple[float, object]:
    times, found = [], None
    for _ in range(_TRIES):
        started = time.perf_counter()
        found = ask()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def measure(store: JobStore, args: argparse.Namespace, rare: int) -> None:
    def page(**query: object) -> Callable[[], object]:
        return lambda: store.list_files(job_id="big", query=FileQuery(**query))  # type: ignore[arg-type]

    common = search_terms("the")
    asks = {
        "first page": page(),
        f"page at file {args.files * 9 // 10:,}": page(after=args.files * 9 // 10),
        "failed": page(status=FileStatus.failed),
        "to review": page(review=True),
        "search 'the'": page(terms=tuple(common)),
        "search 'of the'": page(terms=tuple(search_terms("of the"))),
        f"search '{_RARE}' (one page)": page(terms=tuple(search_terms(_RARE))),
    }
    for name, ask in asks.items():
        ms, found = _median_ms(ask)
        print(f"  {name:32s} {ms:8.2f} ms  {len(found):3d} files")  # type: ignore[arg-type]
    [entry] = store.list_files(job_id="big", query=FileQuery(terms=(_RARE,)))
    assert entry.matched_pages == [1], entry
    ms, record = _median_ms(lambda: store.get_file(job_id="big", file_id=entry.id))
    print(f"  {'one file (detail)':32s} {ms:8.2f} ms")
    assert isinstance(record, FileRecord) and record.sha256
    sha = record.sha256
    ms, blob = _median_ms(lambda: store.page_words(job_id="big", sha256=sha, page=1))
    print(f"  {'one page words':32s} {ms:8.2f} ms  {len(blob or b'')} bytes")  # type: ignore[arg-type]


def _plans(url: str) -> None:
    """SQLite's plan for each list query: each names an index (or the FTS5 table)."""
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    queries = {
        "failed": "SELECT rowid FROM files WHERE job_id='big' AND status='failed' AND rowid>0"
        " ORDER BY rowid LIMIT 50",
        "to review": "SELECT rowid FROM files WHERE job_id='big' AND review=1 AND rowid>0"
        " ORDER BY rowid LIMIT 50",
        "search": "SELECT f.rowid FROM files_text t JOIN files f ON f.rowid=t.rowid"
        " WHERE files_text MATCH 'zanzibarite' AND f.job_id='big' ORDER BY t.rowid LIMIT 50",
    }
    for name, sql in queries.items():
        plan = "; ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        print(f"  plan, {name}: {plan}")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=2, help="pages per file")
    parser.add_argument("--chars", type=int, default=1500, help="characters per page")
    parser.add_argument("--stores", default="sqlite,mongodb")
    parser.add_argument("--mongo-url", help="a mongod to use instead of the test-time server")
    args = parser.parse_args()
    rare = args.files * 2 // 3 + 1  # not a failed file, not one to review
    print(f"{args.files:,} files of {args.pages} pages of {args.chars} characters", flush=True)
    for kind, url, _ in each_store(args.stores, args.mongo_url):
        store = open_store(url)
        print(f"{kind}: written in {fill(store, args, rare):.0f} s", flush=True)
        measure(store, args, rare)
        if kind == "sqlite":
            _plans(url)


if __name__ == "__main__":
    main()
