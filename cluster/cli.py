"""``ocr-ray cluster ...``: deploy and operate the stack on Docker Swarm."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from ocr_ray.cli import register_command
from ocr_ray.exceptions import ExitCode, UsageError
from ocr_ray.settings import get_settings

if TYPE_CHECKING:
    from cluster.swarm import Swarm


def _add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cluster", help="deploy and operate the Ray cluster on Docker Swarm"
    )
    parser.add_argument(
        "--stack", default=None, help="stack name (default OCR_RAY_STACK_NAME or ocr)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    deploy = actions.add_parser("deploy", help="deploy docker-stack.ray.yml")
    deploy.add_argument("--workers", type=int, default=2)
    deploy.add_argument(
        "--inputs", type=Path, required=True, help="host folder mounted as /data/inputs"
    )
    deploy.add_argument("--image", default="ocr-ray:latest")
    deploy.add_argument("--api-port", type=int, default=8000)
    deploy.add_argument(
        "--autoscaler", action="store_true", help="run Ray's autoscaler on the head"
    )
    deploy.add_argument("--job-scaling", action="store_true", help="size workers to each API job")
    deploy.add_argument(
        "--host-network",
        action="store_true",
        help="single node without iptables/bridge: every container on the host network",
    )
    actions.add_parser("status", help="swarm nodes, services, replicas, Ray nodes")
    scale = actions.add_parser("scale", help="set the number of worker replicas")
    scale.add_argument("replicas", type=int)
    scale.add_argument("--wait", type=float, default=0, metavar="S", help="wait for the Ray nodes")
    logs = actions.add_parser("logs", help="a service's recent logs")
    logs.add_argument("role", choices=["ray-head", "ray-worker", "api"])
    logs.add_argument("--tail", type=int, default=100)
    actions.add_parser(
        "health", help="exit 0 if every service is at its replicas and the API answers"
    )
    for name in ("drain", "restore"):
        node = actions.add_parser(name, help=f"{name} a swarm node for maintenance")
        node.add_argument("node")
    drain = actions.choices["drain"]
    drain.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait until the node's tasks stopped"
    )
    actions.add_parser("remove", help="remove the stack")


def cmd_cluster(args: argparse.Namespace) -> int:
    """Dispatch ``ocr-ray cluster ACTION``."""
    from cluster.swarm import Swarm

    swarm = Swarm(args.stack or get_settings().stack_name)
    try:
        return int(_ACTIONS[args.action](swarm, args))
    except TimeoutError as exc:  # --wait ran out: the action was taken, its effect is late
        print(f"ocr-ray: timed out: {exc}", file=sys.stderr)
        return int(ExitCode.internal)


def _deploy(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster import stack

    if not args.inputs.is_dir():
        raise UsageError(f"--inputs {args.inputs} is not a folder")
    home = get_settings().home
    home.mkdir(parents=True, exist_ok=True)
    for secret in ("api_token", "ray_auth_token"):
        name = f"{swarm.stack}_{secret}"  # stack-scoped, so stacks never share tokens
        created = swarm.ensure_secret(name)
        if created:
            path = home / name
            path.touch(mode=0o600)
            path.write_text(created + "\n", encoding="utf-8")
            print(f"created secret {name}; a copy is in {path}")
    data = stack.load_stack()
    if args.host_network:
        socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix(
            "unix://"
        )
        data = stack.host_network(data, docker_socket=socket, api_port=args.api_port)
    env = {
        "OCR_RAY_IMAGE": args.image,
        "OCR_RAY_WORKERS": str(args.workers),
        "OCR_RAY_INPUT_DIR": str(args.inputs.resolve()),
        "OCR_RAY_API_PORT": str(args.api_port),
        "OCR_RAY_AUTOSCALER": "1" if args.autoscaler else "0",
        "OCR_RAY_AUTOSCALE": "1" if args.job_scaling else "0",
        "OCR_RAY_STACK_NAME": swarm.stack,
    }
    stack.deploy(data, swarm.stack, env)
    print(f"deployed stack {swarm.stack} with {args.workers} workers")
    return ExitCode.ok


def _status(swarm: Swarm, args: argparse.Namespace) -> int:
    s = swarm
    report: dict[str, object] = {"swarm_nodes": s.nodes()}
    report["services"] = {
        svc.name: dict(zip(("running", "desired"), s.replicas(svc), strict=True))
        for svc in s.services()
    }
    try:
        report["ray_nodes"] = s.ray_nodes()
    except (LookupError, RuntimeError) as exc:
        report["ray_nodes"] = f"unavailable: {exc}"
    print(json.dumps(report, indent=2))
    return ExitCode.ok


def _scale(swarm: Swarm, args: argparse.Namespace) -> int:
    swarm.scale(args.replicas)
    if args.wait:
        joined = swarm.wait_for_workers(args.replicas, args.wait)
        print(f"{len(joined)} Ray worker nodes alive")
    return ExitCode.ok


def _logs(swarm: Swarm, args: argparse.Namespace) -> int:
    service = swarm.service(args.role)
    for chunk in service.logs(stdout=True, stderr=True, tail=args.tail, timestamps=True):
        print(chunk.decode(errors="replace"), end="")
    return ExitCode.ok


def _health(swarm: Swarm, args: argparse.Namespace) -> int:
    problems = []
    for svc in swarm.services():
        running, desired = swarm.replicas(svc)
        if running < desired:
            problems.append(f"{svc.name}: {running}/{desired} running")
    port = os.environ.get("OCR_RAY_API_PORT", "8000")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10)
    except OSError as exc:
        problems.append(f"API /ready on port {port}: {exc}")
    for problem in problems:
        print(problem)
    print("healthy" if not problems else "unhealthy")
    return ExitCode.ok if not problems else ExitCode.files_failed


def _drain(swarm: Swarm, args: argparse.Namespace) -> int:
    swarm.set_availability(args.node, "drain")
    print(f"draining {args.node}: its tasks move to other nodes; Ray retries what ran there")
    if args.wait:
        swarm.wait_drained(args.node, args.wait)
        print(f"{args.node} holds no task of stack {swarm.stack}: safe for maintenance")
    return ExitCode.ok


def _restore(swarm: Swarm, args: argparse.Namespace) -> int:
    swarm.set_availability(args.node, "active")
    print(f"{args.node} is active again")
    return ExitCode.ok


def _remove(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster import stack

    stack.remove(swarm.stack)
    # Autoscaled workers are not in the stack file; the head's autoscaler may still add
    # one while it stops, so sweep until its grace period is surely over.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        autoscaled = [s for s in swarm.services() if "_ray-auto-" in s.name]
        for service in autoscaled:
            service.remove()
        if not autoscaled and not swarm.head_running():
            break
        time.sleep(3)
    return ExitCode.ok


_ACTIONS = {
    "deploy": _deploy,
    "status": _status,
    "scale": _scale,
    "logs": _logs,
    "health": _health,
    "drain": _drain,
    "restore": _restore,
    "remove": _remove,
}

register_command(_add, "cluster", cmd_cluster)
