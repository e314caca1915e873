"""Both job stores at volume: a million file records and five million pages of text.

Writes synthetic records the way a job does (the walk registers paths in batches of
1024, the coordinator writes final records in batches of 64), then measures what users
wait on: ``status``, ``jobs``, a resume's look for what is left, a re-walk of the inputs
(``add_files`` of every path again), and an export. Each store in turn: SQLite, and
MongoDB (the test-time server, SecantusDB, started here on loopback, or any mongod
given with ``--mongo-url``).

    .venv/bin/python benchmarks/bench_store.py [--records 1000000] [--pages 5] [--chars 1500]
        [--stores sqlite,mongodb] [--mongo-url mongodb://HOST/DB]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_scale import PeakRss  # noqa: E402
from ocr_ray.job.progress import progress_of  # noqa: E402
from ocr_ray.models import FileRecord, FileStatus, JobStatus, PageResult  # noqa: E402
from ocr_ray.params import JobParams  # noqa: E402
from ocr_ray.store import open_store  # noqa: E402

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
]
_REGISTER, _WRITE = 1024, 64


def page_text(rng: random.Random, chars: int) -> str:
    words, size = [], 0
    while size < chars:
        word = rng.choice(_WORDS) if rng.random() < 0.6 else f"w{rng.randrange(100_000)}"
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def record(index: int, pages: int, texts: list[str], with_text: bool) -> FileRecord:
    results = [
        PageResult(
            number=n + 1, text=texts[(index + n) % len(texts)] if with_text else "", confidence=91.5
        )
        for n in range(pages)
    ]
    return FileRecord(
        path=f"/data/inputs/box{index // 1000:05d}/doc{index:07d}.pdf",
        status=FileStatus.succeeded,
        sha256=f"{index:064x}",
        size_bytes=250_000,
        pages=results,
        confidence=91.5,
        languages=["eng"],
        engine="tesseract",
        engine_version="5.3.0",
        duration_s=4.2,
        attempts=1,
    )


def fill(store_url: str, args: argparse.Namespace, texts: list[str]) -> dict:
    """Write a whole job, as its walk and its coordinator do."""
    store = open_store(store_url)
    store.create_job(job_id="big", params=JobParams(paths=["/data/inputs"]))
    store.start_run(job_id="big", lease_s=3600)
    started = time.perf_counter()
    for first in range(0, args.records, _REGISTER):
        count = min(_REGISTER, args.records - first)
        items = [(i, record(i, 0, texts, False).path) for i in range(first, first + count)]
        store.add_files(job_id="big", items=items)
    registered = time.perf_counter() - started
    for first in range(0, args.records, _WRITE):
        batch = [
            record(i, args.pages, texts, True)
            for i in range(first, min(first + _WRITE, args.records))
        ]
        store.complete_files(job_id="big", records=batch)
    store.finish_run(job_id="big", status=JobStatus.completed)
    total = time.perf_counter() - started
    return {"register_s": registered, "total_s": total, "store": store}


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(store, work: Path, args: argparse.Namespace) -> dict:
    out: dict[str, float] = {}
    started = time.perf_counter()
    progress_of(store.get_job("big"))
    out["status_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    store.list_jobs(limit=50)
    out["jobs_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    store.pending_files(job_id="big", after=0, limit=256)
    out["resume_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for first in range(0, args.records, _REGISTER):  # a resume walks and registers again
        count = min(_REGISTER, args.records - first)
        store.add_files(
            job_id="big",
            items=[
                (i, f"/data/inputs/box{i // 1000:05d}/doc{i:07d}.pdf")
                for i in range(first, first + count)
            ],
        )
    out["rewalk_s"] = time.perf_counter() - started
    from ocr_ray.job.export import export_job
    from ocr_ray.job.progress import summary_of

    row = store.get_job("big")
    assert row is not None
    summary = summary_of(store, row)
    with PeakRss() as peak:
        started = time.perf_counter()
        export_job(store, job_id="big", summary=summary, out_dir=work / "export", formats=["jsonl"])
        out["export_s"] = time.perf_counter() - started
    out["export_rss_mib"] = peak.peak / 2**20
    out["export_mib"] = (work / "export" / "results.jsonl").stat().st_size / 2**20
    shutil.rmtree(work / "export")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--chars", type=int, default=1500, help="characters per page")
    parser.add_argument("--stores", default="sqlite,mongodb")
    parser.add_argument("--mongo-url", help="a mongod to use instead of the test-time server")
    args = parser.parse_args()
    rng = random.Random(7)
    texts = [page_text(rng, args.chars) for _ in range(997)]
    pages = args.records * args.pages
    print(f"{args.records:,} records, {pages:,} pages of {args.chars} characters", flush=True)
    for kind, url, work in each_store(args.stores, args.mongo_url):
        _report(kind, fill(url, args, texts), work, args)


def each_store(stores: str, mongo_url: str | None) -> Iterator[tuple[str, str, Path]]:
    """Each store of the comma list ``stores`` in turn, new and empty in a folder of its
    own: (kind, URL, folder); the folder is removed once the caller is done with it."""
    base = Path(tempfile.mkdtemp(prefix="ocr-ray-bench-"))
    try:
        for kind in stores.split(","):
            work = base / kind
            work.mkdir()
            with _store_at(kind, work, mongo_url) as url:
                yield kind, url, work
            shutil.rmtree(work)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _store_at(kind: str, work: Path, mongo_url: str | None) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'jobs.db'}"
    elif mongo_url:
        yield mongo_url
    else:
        from tests.mongo_server import MongoServer

        server = MongoServer(work / "mongo").start()
        try:
            yield server.url("bench")
        finally:
            server.stop()


def _report(kind: str, filled: dict, work: Path, args: argparse.Namespace) -> None:
    pages = args.records * args.pages
    print(f"{kind}:", flush=True)
    print(
        f"  register {args.records / filled['register_s']:,.0f} paths/s; write "
        f"{args.records / filled['total_s']:,.0f} records/s, "
        f"{pages / filled['total_s']:,.0f} pages/s; {_size(work) / 2**30:.2f} GiB on disk",
        flush=True,
    )
    m = measure(filled["store"], work, args)
    print(
        f"  status {m['status_ms']:.1f} ms, jobs {m['jobs_ms']:.1f} ms, resume's "
        f"look for what is left {m['resume_ms']:.1f} ms, re-walk registration "
        f"{m['rewalk_s']:.1f} s",
        flush=True,
    )
    print(
        f"  export jsonl {m['export_s']:.0f} s ({m['export_mib']:,.0f} MiB), "
        f"peak RSS {m['export_rss_mib']:.0f} MiB",
        flush=True,
    )


if __name__ == "__main__":
    main()
