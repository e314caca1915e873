"""Starting or joining Ray with the environment OCR workers need."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import ray
from ray.job_config import JobConfig

from ocr_ray.exceptions import ConfigurationError, UsageError
from ocr_ray.job.keeper import note_user, start_keeper
from ocr_ray.job.narration import ray_start_up, say
from ocr_ray.job.sessions import forget_dead_local_ray, local_note, stop_session
from ocr_ray.settings import get_settings

WORKER_ENV = {"OMP_THREAD_LIMIT": "1"}


def connect(
    address: str | None = None, *, job: dict[str, str] | None = None, keep: bool = True
) -> None:
    """Join Ray at ``address`` (``None``: start or join a local Ray; ``"auto"``; ``ray://``).

    ``job``: the Ray job's metadata when this call starts the driver (its ``job_name``
    is what the dashboard lists). ``keep``: a local Ray started here stays warm for
    later runs (``job.keeper``); False: it lives as long as this process.
    """
    if ray.is_initialized():
        return
    # Local workers inherit the driver's environment; cluster images set it themselves, and
    # ocr_ray.job.tasks sets it again before an engine loads. No runtime_env: it would make
    # Ray start fresh workers for it instead of using the prestarted ones.
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    if address is None:
        forget_dead_local_ray()
        running = _local_ray() or (_start_kept() if keep else None)
        say(_joining(running) if running else _STARTING)
    else:
        say(f"joining Ray at {address}...")
    with ray_start_up():
        context = ray.init(
            address=address,
            include_dashboard=get_settings().include_dashboard if address is None else None,
            log_to_driver=False,
            configure_logging=False,
            job_config=JobConfig(metadata=job or {}),
        )
    if address is None and running:  # a Ray that outlives this process: its keeper asks
        note_user(str(getattr(context, "address_info", {}).get("session_dir", "")))
    cpus = int(ray.cluster_resources().get("CPU", 0))
    dashboard = ""
    if context.dashboard_url:  # ocr-ray serve and the library say it too, not only up
        dashboard = f"; dashboard: {dashboard_url(context)} (token in {auth_token_path()})"
    say(f"Ray is ready: {cpus} CPUs{dashboard}")


_STARTING = "starting a local Ray for this run (a few seconds)..."


def _joining(running: str) -> str:
    return f"joining the local Ray at {running}..."


def _start_kept() -> str | None:
    """Start a local Ray that stays warm for later runs (``job.keeper``), unless the
    operator set ``keep_local_ray_s`` to 0; its address."""
    idle = get_settings().keep_local_ray_s
    if not idle:
        return None
    minutes = f"{idle / 60:g} min" if idle >= 60 else f"{idle:g} s"
    say(
        f"starting a local Ray that stays up for later runs until {minutes} without one "
        "(a few seconds; 'ocr-ray down' stops it)..."
    )
    address = start_local(dashboard=get_settings().include_dashboard)
    session = local_note().read_text(encoding="utf-8").strip()
    note_user(session)  # before the keeper looks, so it never finds the Ray unused
    start_keeper(idle, session)
    return address


def _local_ray() -> str | None:
    """The local Ray that ``ray.init()`` would join, or None if it would start one:
    asked as ``ray.init()`` asks."""
    from ray._private import services

    try:
        with ray_start_up():
            return services.canonicalize_bootstrap_address(None)  # type: ignore[arg-type]
    except Exception:  # a dead note or an odd address: ray.init() will say
        return None


def dashboard_url(context: object) -> str:
    """The dashboard's address as a browser wants it."""
    url = str(getattr(context, "dashboard_url", "") or "")
    return url if url.startswith("http") else f"http://{url}"


def find_dashboard(address: str | None = None) -> tuple[str | None, str]:
    """The dashboard of the Ray at ``address`` (default: the one running here), or None
    if it runs without one, and the Ray's address. ``UsageError`` if there is no Ray."""
    # Joined as a run joins it (address None), which also takes up its token; but a
    # dashboard command must never start a Ray of its own.
    if address is None and _local_ray() is None:
        raise UsageError("no Ray is running here; start one, with its dashboard, with: ocr-ray up")
    with ray_start_up():
        context = ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        url = dashboard_url(context) if getattr(context, "dashboard_url", None) else None
        try:
            gcs = str(ray.get_runtime_context().gcs_address)
        except Exception:  # Ray Client has no GCS address to give: the one asked for
            gcs = str(address)
        return url, gcs
    finally:
        ray.shutdown()


def auth_token_path() -> Path:
    """Where Ray keeps the token its dashboard and CLI ask for."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def start_local(cpus: int | None = None, *, dashboard: bool = True) -> str:
    """Start a local Ray that stays up: later runs on this machine join it (``ocr-ray up``).

    The workers take this process's environment, with the settings OCR needs. Returns
    its address; where it keeps its files is noted in ``OCR_RAY_HOME`` for ``stop_local``.
    A Ray kept up has its dashboard, on a free port (8265 may be another Ray's).
    """
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head"]
    command += ["--port", str(_free_port()), "--disable-usage-stats"]
    command += [f"--include-dashboard={dashboard}"]
    if dashboard:
        command += ["--dashboard-port", str(_free_port())]
    if cpus:
        command += ["--num-cpus", str(cpus)]
    env = {"RAY_AUTH_MODE": "token", **os.environ, **WORKER_ENV}  # Ray's default, unwarned
    # ``ray start`` refuses to make the token it then demands; ray.init() would have made
    # it, so on a machine where Ray never ran, the first kept Ray makes it the same way.
    make_token = [command[0], "get-auth-token", "--generate"]
    subprocess.run(make_token, env=env, capture_output=True, text=True, check=False)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigurationError(f"ray start failed: {done.stderr.strip()[-800:]}")
    from ray._private import utils

    session = os.path.realpath(Path(utils.get_ray_address_file(None)).with_name("session_latest"))
    local_note().parent.mkdir(parents=True, exist_ok=True)
    local_note().write_text(session, encoding="utf-8")
    return str(utils.read_ray_address())


def stop_local() -> bool:
    """Stop the Ray that ``start_local`` started, and nothing else; False if none is noted."""
    note = local_note()
    if not note.exists():
        return False
    stop_session(note.read_text(encoding="utf-8").strip())
    note.unlink(missing_ok=True)
    return True


def _free_port() -> int:
    """A port no one listens on (Ray's default, 6379, may be another Ray's)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])
