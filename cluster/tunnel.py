"""``ocr-ray cluster dashboard``: Ray's dashboard on this machine's loopback, through
the head container, so none of Ray's ports is ever published.

Each browser connection runs ``docker exec -i`` into the head container, where a few
lines of Python join it to the dashboard's port there; the engine's API carries the
bytes. From another machine, forward the port with SSH to the manager first.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import socketserver
import subprocess
import threading

DASHBOARD_PORT = 8265  # the head's (cluster/entrypoint.sh leaves Ray's default)

# Runs in the head container: stdin to the dashboard, the dashboard to stdout.
_BRIDGE = f"""
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", {DASHBOARD_PORT}))
def up():
    while (chunk := sys.stdin.buffer.read1(65536)):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while (chunk := s.recv(65536)):
    sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush()
"""


class DashboardTunnel(socketserver.ThreadingTCPServer):
    """Listens on 127.0.0.1:``port``; every connection reaches the head's dashboard."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, container_id: str, port: int) -> None:
        self.command = [_docker(), "exec", "-i", container_id, "python3", "-c", _BRIDGE]
        super().__init__(("127.0.0.1", port), _Connection)


class _Connection(socketserver.BaseRequestHandler):
    server: DashboardTunnel

    def handle(self) -> None:
        bridge = subprocess.Popen(
            self.server.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert bridge.stdin is not None and bridge.stdout is not None
        threading.Thread(target=_pump_in, args=(self.request, bridge), daemon=True).start()
        try:
            while chunk := bridge.stdout.read1(65536):
                self.request.sendall(chunk)
        except OSError:  # the browser went away
            pass
        finally:
            bridge.kill()
            bridge.wait()


def _pump_in(client: socket.socket, bridge: subprocess.Popen[bytes]) -> None:
    assert bridge.stdin is not None
    with contextlib.suppress(OSError, ValueError):
        while chunk := client.recv(65536):
            bridge.stdin.write(chunk)
            bridge.stdin.flush()
        bridge.stdin.close()


def _docker() -> str:
    found = shutil.which("docker")
    if found is None:
        raise FileNotFoundError("the docker command is not installed here")
    return found
