"""The API under many clients: 1, 4, 20 and 100 polling at once while a job runs.

Starts a real ``ocr-ray serve`` on loopback, keeps an OCR job of real pages running
(a new one as soon as the last ends), and lets N concurrent clients (one asyncio task
and one kept-alive connection each) poll ``/health`` and the job's progress as fast as
they are answered, for a few seconds per N. Prints requests/s, p50 and p99 per route,
and any answer that was not a 200. Every request goes to 127.0.0.1 only, and each run is
bounded in time.

    .venv/bin/python benchmarks/bench_api_load.py [--seconds 10] [--clients 1,4,20,100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.pages import distinct_pages  # noqa: E402
from tests.serve_process import serving  # noqa: E402


class Results:
    """Latencies (seconds) per route, and the status codes seen."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {"health": [], "progress": []}
        self.codes: Counter[int] = Counter()


async def client(http: httpx.AsyncClient, job: list[str], until: float, out: Results) -> None:
    while time.monotonic() < until:
        for route, path in (("health", "/health"), ("progress", f"/api/bulk/progress/{job[0]}")):
            started = time.perf_counter()
            answer = await http.get(path)
            out.latency[route].append(time.perf_counter() - started)
            out.codes[answer.status_code] += 1


async def load(url: str, token: str, job: list[str], clients: int, seconds: float) -> Results:
    out, until = Results(), time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as http:
        await asyncio.gather(*(client(http, job, until, out) for _ in range(clients)))
    return out


def keep_a_job_running(url: str, token: str, job: list[str], stop: threading.Event) -> None:
    """Submit the job again whenever it ends, so every load step runs beside OCR."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            status = http.get(f"/api/bulk/progress/{job[0]}").json()["status"]
            if status in ("completed", "failed", "cancelled"):
                submitted = http.post("/api/bulk/process", json={"folder_path": "pages"})
                job[0] = submitted.raise_for_status().json()["job_id"]
            stop.wait(1.0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def report(clients: int, seconds: float, out: Results) -> str:
    total = sum(len(v) for v in out.latency.values())
    cells = [f"{clients:>7}", f"{total / seconds:>10.0f}"]
    for route in ("health", "progress"):
        values = out.latency[route]
        cells += [
            f"{1000 * statistics.median(values):>8.0f}",
            f"{1000 * percentile(values, 0.99):>8.0f}",
        ]
    errors = {code: n for code, n in out.codes.items() if code != 200}
    cells.append(f"  {errors or 'none'}")
    return " ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per client count")
    parser.add_argument("--clients", default="1,4,20,100")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    base = Path(tempfile.mkdtemp(prefix="ocr-ray-load-"))
    root = base / "root"
    distinct_pages(root / "pages", 40)
    token = secrets.token_urlsafe(24)
    env = dict(
        os.environ,
        OCR_RAY_API_TOKEN=token,
        OCR_RAY_INPUT_ROOTS=str(root),
        OCR_RAY_HOME=str(base / "home"),
        OCR_RAY_INCLUDE_DASHBOARD="0",
    )
    with serving(env) as (url, _, _):
        first = httpx.post(
            f"{url}/api/bulk/process",
            json={"folder_path": "pages"},
            headers={"Authorization": f"Bearer {token}"},
        )
        job, stop = [first.raise_for_status().json()["job_id"]], threading.Event()
        runner = threading.Thread(target=keep_a_job_running, args=(url, token, job, stop))
        runner.start()
        print("clients  requests/s  health p50 p99 (ms)  progress p50 p99 (ms)  not 200")
        try:
            for clients in counts:
                out = asyncio.run(load(url, token, job, clients, args.seconds))
                print(report(clients, args.seconds, out), flush=True)
        finally:
            stop.set()
            runner.join()


if __name__ == "__main__":
    main()
