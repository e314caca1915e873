"""Job-size scaling: size the worker service to a job before it starts, shrink when idle."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

from cluster.swarm import Swarm

_log = logging.getLogger(__name__)


def plan_replicas(files: int, *, swarm_nodes: int, files_per_worker: int, max_replicas: int) -> int:
    """Workers for a job: one per ``files_per_worker`` files, capped at twice the swarm's
    nodes and at ``max_replicas``, and never fewer than one."""
    wanted = math.ceil(files / max(files_per_worker, 1))
    return max(1, min(wanted, 2 * max(swarm_nodes, 1), max_replicas))


@dataclass
class JobScaler:
    """Scales ``<stack>_ray-worker`` up for jobs and back to ``baseline`` after ``idle_s``."""

    swarm: Swarm
    files_per_worker: int
    max_replicas: int
    baseline: int = 1
    idle_s: float = 300.0
    join_timeout_s: float = 300.0
    watch_s: float = 5.0  # how often a running job looks for nodes that joined
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timer: threading.Timer | None = None
    _known: set[str] = field(default_factory=set)  # nodes a worker may run on, last seen
    _watching: bool = False

    def before_job(self, files: int) -> int:
        """Scale for a job of ``files`` files and wait until the Ray nodes joined."""
        target = plan_replicas(
            files,
            swarm_nodes=len(self.swarm.nodes()),
            files_per_worker=self.files_per_worker,
            max_replicas=self.max_replicas,
        )
        with self._lock:
            self._active += 1
            if self._timer:
                self._timer.cancel()
            _, current = self.swarm.replicas(self.swarm.service("ray-worker"))
            if target > current:
                self.swarm.scale(target)
            self._known = self._worker_nodes()
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, daemon=True).start()
        self.swarm.wait_for_workers(target, self.join_timeout_s)
        return target

    def after_job(self) -> None:
        """Schedule the scale-down once no job has run for ``idle_s``."""
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._arm()

    def _watch(self) -> None:
        """While jobs run, give each node that joins a worker of its own (swarm does not
        move running tasks onto a new node; a new replica goes to the emptiest node)."""
        while True:
            time.sleep(self.watch_s)
            with self._lock:
                if not self._active:
                    self._watching = False
                    return
                try:
                    self._grow_onto_new_nodes()
                except Exception:  # e.g. the engine is busy: look again next time
                    _log.exception("looking for new swarm nodes failed")

    def _grow_onto_new_nodes(self) -> None:
        nodes = self._worker_nodes()
        new, self._known = nodes - self._known, nodes
        if not new:
            return
        _, current = self.swarm.replicas(self.swarm.service("ray-worker"))
        target = min(current + len(new), self.max_replicas)
        if target > current:
            _log.info("%d node(s) joined during a job: %d workers", len(new), target)
            self.swarm.scale(target)

    def _worker_nodes(self) -> set[str]:
        """Ready, active nodes a Ray worker may run on: the worker nodes, or every node
        of a swarm that has none (cluster/stack.py on_worker_nodes)."""
        nodes = self.swarm.nodes()
        up = [n for n in nodes if n["state"] == "ready" and n["availability"] == "active"]
        workers = [n for n in up if n["role"] == "worker"]
        return {n["id"] for n in workers or up}

    def settle(self) -> None:
        """After a restart (whose timer was lost): scale back after ``idle_s`` unless a job
        starts first."""
        with self._lock:
            if self._active == 0:
                self._arm()

    def _arm(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._timer = threading.Timer(self.idle_s, self._scale_down)
        self._timer.daemon = True
        self._timer.start()

    def _scale_down(self) -> None:
        with self._lock:
            if self._active:
                return
            try:
                self.swarm.scale(self.baseline)
            except Exception:  # e.g. the engine is busy restarting: try again later
                _log.exception("scaling workers back to %d failed; retrying", self.baseline)
                self._arm()
