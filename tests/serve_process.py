"""A real ``ocr-ray serve`` process, for the API tests and the API load benchmark."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """``ocr-ray serve`` on a free loopback port with ``env``: (its URL, its Ray's
    address, the process), stopped as an operator would stop it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "ocr-ray"), "serve", "--port", str(port)],
        env=dict(env, PYTHONUNBUFFERED="1"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, _wait_for_serve(process, url), process
    finally:
        # SIGTERM to the server alone: signalling its whole group killed Ray under it,
        # and its clean shutdown then waited 40 s on a dead Ray.
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever it left behind


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_serve(process: subprocess.Popen[str], url: str) -> str:
    """Read the server's output until it reports its Ray address and answers /ready."""
    assert process.stdout is not None
    deadline = time.monotonic() + 180
    address = ""
    while time.monotonic() < deadline and not address:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError("ocr-ray serve exited during start-up")
        if line.startswith("Ray at "):
            address = line.split()[-1]
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return address
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("ocr-ray serve did not become ready")
