"""A MongoDB-wire server for the tests: SecantusDB (a test-time server on WiredTiger) as
a real process on loopback, which a test can stop and start again on the same data; or
any real mongod through ``OCR_RAY_TEST_MONGO_URI``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.serve_process import free_port

SERVER = Path(shutil.which("secantusd-py") or Path(sys.executable).parent / "secantusd-py")


class MongoServer:
    """``secantusd-py`` on 127.0.0.1, its data in ``folder``, kept across restarts."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MongoServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [str(SERVER), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--storage-path", str(self.folder / "data"), "--log-level", "WARNING"]
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"secantusd did not start: {self.log()[-2000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """Stop the server for real (as an outage does); its data stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def url(self, database: str | None = None) -> str:
        """A URL for a fresh database (each test its own) on this server."""
        name = database or f"t{uuid.uuid4().hex[:12]}"
        return f"mongodb://127.0.0.1:{self.port}/{name}?directConnection=true"

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


def real_mongo_url() -> str | None:
    """A fresh database on the mongod that ``OCR_RAY_TEST_MONGO_URI`` names, if set."""
    base = os.environ.get("OCR_RAY_TEST_MONGO_URI")
    if not base:
        return None
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/t{uuid.uuid4().hex[:12]}"))
