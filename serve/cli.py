"""``ocr-ray serve``: the API and page on a local (or given) Ray, in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import threading

from ocr_ray.exceptions import ExitCode
from ocr_ray.settings import get_settings
from serve.settings import get_serve_settings

# What Ray's HAProxy ingress opens beside the API; its template offers no bind address.
HAPROXY_EXPOSURE = (
    "OCR_RAY_API_HAPROXY is on: Ray's HAProxy also listens on every interface on ports "
    "8404 (stats page) and 9101 (metrics) by default, keeps an admin socket any local user may use "
    "under /tmp/haproxy-serve, and hides client addresses from the API; keep this node "
    "behind a firewall"
)


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``ocr-ray serve`` (an ``ocr_ray.commands`` entry point)."""
    parser = commands.add_parser("serve", help="run the HTTP API and web page")
    parser.set_defaults(handler=cmd_serve)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", help="Ray address (default: start a local Ray)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Start Serve with the API, print where it is, and block until interrupted."""
    _ensure_token()
    import ray
    from ray import serve

    from ocr_ray.api import connect
    from serve.app import application
    from serve.runner import job_runner, on_api_node

    if get_serve_settings().api_haproxy:  # read by the Ray that connect() starts, and Serve
        os.environ.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
        os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
        print(HAPROXY_EXPOSURE, file=sys.stderr)
    connect(args.address, keep=False)  # its Ray lives as long as it serves (HAProxy's env)
    serve.start(http_options={"host": args.host, "port": args.port})
    app = application(on_api_nodes=on_api_node())
    serve.run(app, name="ocr-ray", route_prefix="/", blocking=False)
    job_runner(get_settings().resolved_store_url)  # resumes unfinished API jobs
    print(f"ocr-ray API on http://{args.host}:{args.port}/ (docs at /docs)", flush=True)
    print(f"Ray at {ray.get_runtime_context().gcs_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    serve.shutdown()
    ray.shutdown()
    return ExitCode.ok


def _ensure_token() -> None:
    """Use the configured token, or make one for this machine and say where it is."""
    settings = get_serve_settings()
    if settings.api_token or settings.api_token_file:
        return
    path = settings.home / "api_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    os.environ["OCR_RAY_API_TOKEN_FILE"] = str(path)  # inherited by the Serve replicas
    get_serve_settings.cache_clear()
    print(f"API token (no OCR_RAY_API_TOKEN set) in {path}", file=sys.stderr)
