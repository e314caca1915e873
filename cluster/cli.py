"""``ocr-ray cluster ...``: deploy and operate the stack on Docker Swarm."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.settings import get_cluster_settings
from ocr_ray.exceptions import ExitCode, UsageError
from ocr_ray.settings import get_settings

ROLES = ("ray-head", "ray-worker", "api")  # the stack's own-image services, by role
SERVICES = (*ROLES, "mongodb")
STORES = ("sqlite", "mongodb")
STORE_PORT = 27017  # the store service's port on a host network

if TYPE_CHECKING:
    from cluster.swarm import Swarm


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``ocr-ray cluster`` (an ``ocr_ray.commands`` entry point)."""
    parser = commands.add_parser(
        "cluster", help="deploy and operate the Ray cluster on Docker Swarm"
    )
    parser.set_defaults(handler=cmd_cluster)
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
    deploy.add_argument(
        "--store",
        choices=STORES,
        default="sqlite",
        help="job state: sqlite on the API's volume (default), or the stack's own MongoDB "
        "service, shared by every API replica",
    )
    deploy.add_argument(
        "--api-nodes",
        type=int,
        default=None,
        help="API containers, each a Ray node that can run jobs (default 1; 2 with "
        "--store mongodb); more than 1 needs MongoDB",
    )
    deploy.add_argument(
        "--test-store",
        action="store_true",
        help="with --store mongodb: run the test-time MongoDB-wire server (SecantusDB) in "
        "the project's image instead of MongoDB's own image; for tests and demos only",
    )
    actions.add_parser("status", help="swarm nodes, services, replicas, Ray nodes")
    dashboard = actions.add_parser(
        "dashboard", help="Ray's dashboard on this machine's loopback, until Ctrl-C"
    )
    dashboard.add_argument("--port", type=int, default=8265, help="local port (default: 8265)")
    scale = actions.add_parser("scale", help="set the number of worker replicas")
    scale.add_argument("replicas", type=int)
    scale.add_argument("--wait", type=float, default=0, metavar="S", help="wait for the Ray nodes")
    logs = actions.add_parser("logs", help="a service's recent logs")
    logs.add_argument("role", choices=SERVICES)
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
    _add_operator_verbs(actions)


def _add_operator_verbs(actions: argparse._SubParsersAction) -> None:
    stats = actions.add_parser("stats", help="CPU, memory and network per container, Ray node")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    restart = actions.add_parser("restart", help="rolling restart of a role's containers")
    restart.add_argument("role", choices=SERVICES)
    update = actions.add_parser(
        "update", help="rolling update; rolls back if the new tasks do not become healthy"
    )
    update.add_argument("--role", choices=ROLES, default="ray-worker")
    update.add_argument("--image")
    update.add_argument("--env", action="append", default=[], metavar="K=V", type=_env_item)
    update.add_argument("--limit-cpus", type=_positive_float, metavar="N")
    update.add_argument("--limit-memory", metavar="M", type=_memory, help="e.g. 512M, 4G")
    for parser in (restart, update):
        parser.add_argument(
            "--wait", type=float, default=600, metavar="S", help="seconds to wait (0: return)"
        )
        parser.add_argument(
            "--monitor", type=float, default=30, metavar="S", help="watch each new task this long"
        )
    nodes = actions.add_parser("nodes", help="list the swarm's nodes")
    nodes.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_node = actions.add_parser("add-node", help="print the docker swarm join command")
    add_node.add_argument("--manager", action="store_true", help="join as a manager")
    remove_node = actions.add_parser("remove-node", help="drain a node, then remove it")
    remove_node.add_argument("node")
    remove_node.add_argument("--wait", type=float, default=300, metavar="S")
    remove_node.add_argument("--force", action="store_true", help="even if its engine is up")


def cmd_cluster(args: argparse.Namespace) -> int:
    """Dispatch ``ocr-ray cluster ACTION``."""
    from docker.errors import DockerException

    from cluster.swarm import Swarm

    try:
        swarm = Swarm(args.stack or get_cluster_settings().stack_name)
    except DockerException as exc:
        raise UsageError(f"cannot reach the Docker engine (DOCKER_HOST): {exc}") from exc
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
    address = swarm.own_address() if args.host_network else None
    if address:
        socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix(
            "unix://"
        )
        data = stack.host_network(
            data, docker_socket=socket, api_port=args.api_port, store_port=STORE_PORT,
            address=address,
        )  # fmt: skip
    if any(node["role"] == "worker" for node in swarm.nodes()):
        data = stack.on_worker_nodes(data)
    if args.test_store:
        data = stack.with_test_store(data)
    env = {
        "OCR_RAY_IMAGE": args.image,
        "OCR_RAY_WORKERS": str(args.workers),
        "OCR_RAY_INPUT_DIR": str(args.inputs.resolve()),
        "OCR_RAY_API_PORT": str(args.api_port),
        "OCR_RAY_AUTOSCALER": "1" if args.autoscaler else "0",
        "OCR_RAY_AUTOSCALE": "1" if args.job_scaling else "0",
        "OCR_RAY_STACK_NAME": swarm.stack,
        **_store_env(args, address),
    }
    stack.deploy(data, swarm.stack, env)
    print(f"deployed stack {swarm.stack} with {args.workers} workers")
    return ExitCode.ok


def _store_env(args: argparse.Namespace, address: str | None) -> dict[str, str]:
    """The stack's variables for the chosen store and API nodes (``address``: the
    manager's on a host network)."""
    from cluster import stack

    shared = args.store == "mongodb"
    nodes = args.api_nodes if args.api_nodes is not None else 1 + shared
    if nodes < 1:
        raise UsageError("--api-nodes: at least 1")
    if nodes > 1 and not shared:
        raise UsageError(
            "--api-nodes: more than one API node needs the shared store "
            "(--store mongodb); SQLite lives on one node's volume"
        )
    if args.test_store and not shared:
        raise UsageError("--test-store: only with --store mongodb")
    env = {"OCR_RAY_API_NODES": str(nodes), "OCR_RAY_MONGO_REPLICAS": str(int(shared))}
    if shared:
        env["OCR_RAY_STORE_URL"] = stack.store_url(
            host_network=address, test_store=args.test_store, store_port=STORE_PORT
        )
    return env


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
    report["dashboard"] = "not published; on the manager: ocr-ray cluster dashboard"
    print(json.dumps(report, indent=2))
    return ExitCode.ok


def _dashboard(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.tunnel import DashboardTunnel

    head = swarm.head_container()  # the head runs on a manager: run this on that one
    token = get_settings().home / f"{swarm.stack}_ray_auth_token"
    with DashboardTunnel(head.id, args.port) as tunnel:
        print(f"Ray's dashboard: http://127.0.0.1:{args.port}/ (through the head container)")
        print(f"token: the one in {token} (the stack's ray_auth_token secret)")
        print(f"from another machine: ssh -L {args.port}:127.0.0.1:{args.port} THIS-MANAGER")
        print("Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            tunnel.serve_forever()
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
    port = get_cluster_settings().api_port
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10)
    except OSError as exc:
        problems.append(f"API /ready on port {port}: {exc}")
    for problem in problems:
        print(problem)
    print("healthy" if not problems else "unhealthy")
    return ExitCode.ok if not problems else ExitCode.unhealthy


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


def _stats(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.stats import stack_stats

    rows = stack_stats(swarm)
    columns = ("container", "ray_node", "cpu_percent", "memory_mib", "memory_limit_mib")
    _print_rows(rows, (*columns, "net_rx_mib", "net_tx_mib"), as_json=args.json)
    return ExitCode.ok


def _roll(swarm: Swarm, args: argparse.Namespace, role: str, change: Any) -> int:
    from cluster.rolling import roll, wait_rolled

    before = roll(swarm, role, change, monitor_s=args.monitor)
    print(f"rolling {swarm.stack}_{role}, one task at a time")
    if not args.wait:
        return ExitCode.ok
    outcome = wait_rolled(swarm, role, before, args.wait)
    print(f"{outcome.state}: {outcome.message}")
    return ExitCode.ok if outcome.ok else ExitCode.unhealthy


def _restart(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.rolling import Change

    return _roll(swarm, args, args.role, Change(force=True))


def _update(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.rolling import Change

    change = Change(
        image=args.image,
        env=dict(args.env) or None,
        limit_cpus=args.limit_cpus,
        limit_memory_bytes=args.limit_memory,
    )
    if change == Change():
        raise UsageError(
            "update needs at least one of --image, --env, --limit-cpus, --limit-memory"
        )
    return _roll(swarm, args, args.role, change)


def _env_item(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"wants KEY=VALUE, not {value!r}")
    return key, rest


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value!r}")
    return number


def _memory(value: str) -> int:
    """``512M``, ``2G``, ``1.5g`` or plain bytes, as bytes."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = value.strip().lower().removesuffix("b")
    factor = units.get(text[-1:], 1)
    try:
        amount = float(text[:-1] if text[-1:] in units else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a size like 512M or 2G, not {value!r}") from None
    if amount <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value!r}")
    return int(amount * factor)


def _nodes(swarm: Swarm, args: argparse.Namespace) -> int:
    columns = ("id", "hostname", "role", "manager", "availability", "state", "address")
    _print_rows(swarm.nodes(), (*columns, "cpus", "memory_gib", "engine"), as_json=args.json)
    return ExitCode.ok


def _add_node(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.membership import join_command

    kind = "manager" if args.manager else "worker"
    print(f"Run this on the new machine to join the swarm as a {kind}:")
    print(join_command(swarm, manager=args.manager))
    return ExitCode.ok


def _remove_node(swarm: Swarm, args: argparse.Namespace) -> int:
    from cluster.membership import remove_node

    removed = remove_node(swarm, args.node, drain_timeout_s=args.wait, force=args.force)
    print(f"removed node {args.node} ({removed}) from the swarm")
    return ExitCode.ok


def _print_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = [
        columns,
        *[tuple("-" if r.get(c) is None else str(r[c]) for c in columns) for r in rows],
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


_ACTIONS = {
    "deploy": _deploy,
    "status": _status,
    "dashboard": _dashboard,
    "scale": _scale,
    "logs": _logs,
    "health": _health,
    "drain": _drain,
    "restore": _restore,
    "remove": _remove,
    "stats": _stats,
    "restart": _restart,
    "update": _update,
    "nodes": _nodes,
    "add-node": _add_node,
    "remove-node": _remove_node,
}
