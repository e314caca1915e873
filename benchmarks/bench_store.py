"""The SQLite job store at volume: a million file records and five million pages of text.

Writes synthetic records the way a job does (the walk registers paths in batches of
1024, the coordinator writes final records in batches of 64), then measures what users
wait on: ``status``, ``jobs``, a resume's look for what is left, a re-walk of the inputs
(``add_files`` of every path again), and an export. The same records are then written
with their page text in sharded JSON Lines files beside the database instead, to show
what moving the text out of the database would change.

    .venv/bin/python benchmarks/bench_store.py [--records 1000000] [--pages 5] [--chars 1500]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
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


def fill(store_url: str, args: argparse.Namespace, texts: list[str], shards: Path | None) -> dict:
    """Write a whole job; with ``shards``, the text goes to files there, not the database."""
    store = open_store(store_url)
    store.create_job(job_id="big", params=JobParams(paths=["/data/inputs"]))
    store.start_run(job_id="big", lease_s=3600)
    started = time.perf_counter()
    for first in range(0, args.records, _REGISTER):
        count = min(_REGISTER, args.records - first)
        items = [(i, record(i, 0, texts, False).path) for i in range(first, first + count)]
        store.add_files(job_id="big", items=items)
    registered = time.perf_counter() - started
    shard_file = None
    for first in range(0, args.records, _WRITE):
        batch = [
            record(i, args.pages, texts, True)
            for i in range(first, min(first + _WRITE, args.records))
        ]
        if shards is not None:
            if first % 10_000 == 0:
                shard_file = (shards / f"text-{first // 10_000:05d}.jsonl").open("a")
            for r in batch:
                assert shard_file is not None
                shard_file.write(
                    json.dumps({"path": r.path, "pages": [p.text for p in r.pages]}) + "\n"
                )
                for p in r.pages:
                    p.text = ""
        store.complete_files(job_id="big", records=batch)
    store.finish_run(job_id="big", status=JobStatus.completed)
    total = time.perf_counter() - started
    size = sum(
        p.stat().st_size for p in Path(store_url.removeprefix("sqlite:///")).parent.glob("*.db*")
    )
    if shards is not None:
        size += sum(p.stat().st_size for p in shards.glob("*"))
    return {"register_s": registered, "total_s": total, "bytes": size, "store": store}


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
    args = parser.parse_args()
    rng = random.Random(7)
    texts = [page_text(rng, args.chars) for _ in range(997)]
    base = Path(tempfile.mkdtemp(prefix="ocr-ray-store-"))
    pages = args.records * args.pages
    print(f"{args.records:,} records, {pages:,} pages of {args.chars} characters", flush=True)
    try:
        for name, sharded in (("text in the database", False), ("text in sharded files", True)):
            work = base / name.replace(" ", "-")
            (work / "shards").mkdir(parents=True)
            filled = fill(
                f"sqlite:///{work / 'jobs.db'}", args, texts, work / "shards" if sharded else None
            )
            print(f"{name}:", flush=True)
            print(
                f"  register {args.records / filled['register_s']:,.0f} paths/s; write "
                f"{args.records / filled['total_s']:,.0f} records/s, "
                f"{pages / filled['total_s']:,.0f} pages/s; {filled['bytes'] / 2**30:.2f} GiB",
                flush=True,
            )
            if not sharded:
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
            shutil.rmtree(work)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
