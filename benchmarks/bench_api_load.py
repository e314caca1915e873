"""The API under many clients: 1, 4, 20 and 100 polling at once while a job runs.

Starts a real ``ocr-ray serve`` on loopback, keeps an OCR job of real pages running
(a new one as soon as the last ends), and lets N concurrent clients (wrk, from Debian: one
kept-alive connection each) poll ``/health``, then the job's progress, for a few seconds
each: as fast as they are answered (a saturation test), or with ``--poll-interval-ms``
between a client's answer and its next poll, as the web page polls. Prints requests/s,
p50 and p99 per route, and any answer that was not a 2xx. Every request goes to
127.0.0.1 only, and each run is bounded in time.

    .venv/bin/python benchmarks/bench_api_load.py [--seconds 10] [--clients 1,4,20,100]
        [--poll-interval-ms 1000] [--idle]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.pages import distinct_pages  # noqa: E402
from tests.serve_process import serving  # noqa: E402

# Each measured run follows one this long at the same concurrency, unmeasured: wrk opens
# all its connections at once, and a replica's first requests warm its code, so without
# it a short run's p99 is mostly start-up.
WARM_UP_S = 2


def wrk(
    url: str, token: str, path: str, clients: int, seconds: float, pause: Path | None
) -> dict[str, str]:
    """One wrk run (a C load generator, so the client is not what is measured): its
    requests/s, p50, p99 and non-2xx count. ``pause``: a wrk script that makes each
    client wait between polls."""
    command = [
        "wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{int(seconds)}s", "--latency",
        "--timeout", "30s", "-H", f"Authorization: Bearer {token}", url + path,
    ]  # fmt: skip
    if pause is not None:
        command[1:1] = ["-s", str(pause)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = {
        "rps": re.search(r"Requests/sec:\s+([\d.]+)", output),
        "p50": re.search(r"^\s+50%\s+(\S+)", output, re.M),
        "p99": re.search(r"^\s+99%\s+(\S+)", output, re.M),
        "bad": re.search(r"Non-2xx or 3xx responses: (\d+)", output),
        "errors": re.search(r"Socket errors: (.*)", output),
    }
    return {key: (m.group(1) if m else "0") for key, m in found.items()}


def keep_a_job_running(url: str, token: str, job: list[str], stop: threading.Event) -> None:
    """Submit the job again whenever it ends, so every load step runs beside OCR."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        while not stop.is_set():
            status = http.get(f"/api/bulk/progress/{job[0]}").json()["status"]
            if status in ("completed", "failed", "cancelled"):
                submitted = http.post("/api/bulk/process", json={"folder_path": "pages"})
                job[0] = submitted.raise_for_status().json()["job_id"]
            stop.wait(1.0)


def wait_done(url: str, token: str, job_id: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        while http.get(f"/api/bulk/progress/{job_id}").json()["status"] != "completed":
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per client count")
    parser.add_argument("--clients", default="1,4,20,100")
    parser.add_argument("--idle", action="store_true", help="no job beside the load")
    parser.add_argument(
        "--poll-interval-ms", type=int, default=0, help="each client's wait between polls"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    base = Path(tempfile.mkdtemp(prefix="ocr-ray-load-"))
    root = base / "root"
    distinct_pages(root / "pages", 40)
    pause = None
    if args.poll_interval_ms:  # wrk waits delay() ms before each request of a client
        pause = base / "pause.lua"
        pause.write_text(f"function delay() return {args.poll_interval_ms} end\n")
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
        if args.idle:
            wait_done(url, token, job[0])
        else:
            runner.start()
        print("clients  route     requests/s     p50     p99  non-2xx  socket errors")
        try:
            for clients in counts:
                for route in ("/health", "/api/bulk/progress/"):
                    path = route + job[0] if route.endswith("/") else route
                    wrk(url, token, path, clients, WARM_UP_S, pause)  # opened and warm
                    got = wrk(url, token, path, clients, args.seconds, pause)
                    print(
                        f"{clients:>7}  {route.strip('/').split('/')[-1]:<8} {got['rps']:>11} "
                        f"{got['p50']:>7} {got['p99']:>7} {got['bad']:>8}  {got['errors']}",
                        flush=True,
                    )
        finally:
            stop.set()
            if runner.is_alive():
                runner.join()


if __name__ == "__main__":
    main()
