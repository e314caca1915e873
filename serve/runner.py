"""The detached job-runner actor: jobs outlive API requests, clients and Serve replicas.

One actor runs each job's coordinator on a thread. With SQLite it is pinned to the node
that holds the store's file; with a shared store (MongoDB) it may live on any API node
(the ``ocr_api`` resource), so when the API node it runs on dies, Ray restarts it on
another, which takes the jobs over. A restarted runner resumes every unfinished job it
owns once the job's lease has run out (its coordinator is gone), and the store's
one-row-per-file rule keeps a resumed job from counting anything twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ocr_ray.api import run_stored_job
from ocr_ray.exceptions import OcrRayError
from ocr_ray.models import CallbackOutcome, JobStatus
from ocr_ray.params import JobParams
from ocr_ray.settings import get_settings
from ocr_ray.store import JobRow, JobStore, is_shared, open_store, open_user_store
from serve.deployment import scales
from serve.settings import get_serve_settings
from serve.webhooks.delivery import deliver

if TYPE_CHECKING:  # the cluster package is only in the cluster image
    from cluster.scaling import JobScaler

_log = logging.getLogger(__name__)
RUNNER_NAME = "ocr-ray-job-runner"
NAMESPACE = "ocr_ray"
API_OWNER = "api"
API_RESOURCE = "ocr_api"  # what the API containers' Ray nodes offer (cluster/entrypoint.sh)
_SIZING_POLL_S = 0.5
_STORE_RETRY_S = 5.0
# Its own jobs left running by a previous life of this actor show as interrupted once
# their lease has run out; either way they are this actor's to continue.
_RESUMABLE = (JobStatus.queued, JobStatus.running, JobStatus.cancelling, JobStatus.interrupted)


class JobRunner:
    """Runs API jobs on threads; resumes its unfinished jobs whenever it (re)starts."""

    def __init__(self, store_url: str) -> None:
        self._store_url = store_url
        self._threads: dict[str, threading.Thread] = {}
        self._reading: set[str] = set()  # the jobs past their reading only send callbacks
        self._lock = threading.Lock()
        self._job_scaler: JobScaler | None = None
        if get_serve_settings().autoscale:  # workers a previous life scaled up come back down
            try:
                self._scaler().settle()
            except Exception:  # the API still serves; only the scale-back is missed
                _log.exception("job-size scaling could not settle the worker count")
        threading.Thread(target=self._resume_owned, daemon=True).start()

    def _resume_owned(self) -> None:
        """Start every unfinished API job, once the store answers: a runner that starts
        before its store (a whole stack starting at once) still comes up and resumes."""
        while True:
            try:
                rows = open_store(self._store_url).list_jobs(limit=10_000)
                break
            except OcrRayError:
                _log.warning("the job store does not answer yet; retrying", exc_info=True)
                time.sleep(_STORE_RETRY_S)
        for row in rows:
            if row.params.owner != API_OWNER:
                continue
            if row.status in _RESUMABLE or _callback_pending(row):
                self.start(row.id)  # a finished job's thread only sends its callback

    def start(self, job_id: str) -> bool:
        """Run the stored job ``job_id`` unless it is already running here."""
        with self._lock:
            thread = self._threads.get(job_id)
            if thread is not None and thread.is_alive():
                return False
            thread = threading.Thread(target=self._run, args=(job_id,), daemon=True)
            self._threads[job_id] = thread
            thread.start()
            return True

    def running(self) -> list[str]:
        """Ids of the jobs being read now."""
        with self._lock:
            return sorted(self._reading)

    def _run(self, job_id: str) -> None:
        store = open_store(self._store_url)
        row = _once_unleased(store, job_id)
        if row is None:
            return
        if not row.status.finished:
            with self._lock:
                self._reading.add(job_id)
            try:
                self._read(store, row)
            finally:
                with self._lock:
                    self._reading.discard(job_id)
        if not row.params.callback_url:
            return
        try:
            deliver(store, open_user_store(self._store_url), job_id, get_serve_settings())
        except Exception:  # the job's results stand; its callback state says how far it got
            _log.exception("the callback of job %s failed", job_id)

    def _read(self, store: JobStore, row: JobRow) -> None:
        """Run the job to its end, with the workers scaled to it where it asks."""
        job_id = row.id
        scaler = self._scaler() if scales(row.params, get_serve_settings()) else None
        scaled = threading.Event()
        sizing = threading.Thread(
            target=self._size_for, args=(scaler, store, job_id, scaled), daemon=True
        )
        if scaler is not None:
            sizing.start()
        try:
            run_stored_job(job_id, store=store)
        except Exception:  # recorded as failed in the store by the coordinator
            _log.exception("job %s failed", job_id)
        finally:
            if scaler is not None:
                sizing.join()
                if scaled.is_set():
                    scaler.after_job()

    @staticmethod
    def _size_for(scaler: JobScaler, store: JobStore, job_id: str, scaled: threading.Event) -> None:
        """Scale the workers to the job once its walk has counted enough files.

        The count comes from the job's own walk (in the store), so the tree is walked
        once; the job starts at once on what is there and grows as workers join.
        """
        enough = scaler.files_per_worker * scaler.max_replicas
        while (row := store.get_job(job_id)) is not None and not row.status.finished:
            counted = row.expected_total or 0
            if row.scan_complete or counted >= enough:
                try:
                    scaled.set()
                    scaler.before_job(counted)
                except Exception:  # no capacity change: the job runs on what is there
                    _log.exception("job-size scaling failed for job %s", job_id)
                return
            time.sleep(_SIZING_POLL_S)

    def _scaler(self) -> JobScaler:
        """The swarm job scaler (cluster/ is only present in the cluster image)."""
        with self._lock:
            if self._job_scaler is None:
                from cluster.scaling import JobScaler
                from cluster.settings import get_cluster_settings
                from cluster.swarm import Swarm

                s = get_cluster_settings()
                self._job_scaler = JobScaler(
                    Swarm(s.stack_name),
                    files_per_worker=s.files_per_worker,
                    max_replicas=s.max_replicas,
                    baseline=s.workers,
                    idle_s=s.scale_idle_s,
                )
            return self._job_scaler


def _once_unleased(store: JobStore, job_id: str) -> JobRow | None:
    """The job once no coordinator holds its lease: a runner that took over from one on
    a lost node waits for that lease to run out, so two never read the same job."""
    while (row := store.get_job(job_id)) is not None:
        if not row.status.active or row.lease_until is None:  # live_status: run out
            return row
        time.sleep(_SIZING_POLL_S)
    return None


def _callback_pending(row: JobRow) -> bool:
    """A finished job whose callback was not yet delivered, nor given up on."""
    state = row.callback
    waiting = state is None or state.outcome is CallbackOutcome.pending
    return row.status.finished and bool(row.params.callback_url) and waiting


def job_runner(store_url: str) -> Any:
    """The runner actor, created on first use (Ray must be connected): on this node, or
    on any API node when the store is shared and this is one."""
    remote = ray.remote(JobRunner).options(
        name=RUNNER_NAME,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=64,
        num_cpus=0,
        **_placement(store_url),
    )
    return remote.remote(store_url)


def _placement(store_url: str) -> dict[str, Any]:
    # Asked on every submit: the cluster's node list is read only for a shared store.
    if is_shared(store_url) and on_api_node():
        return {"resources": {API_RESOURCE: 0.001}}
    here = ray.get_runtime_context().get_node_id()
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=here, soft=False)}


def on_api_node() -> bool:
    """Whether this process's Ray node is one of a cluster's API nodes."""
    here = ray.get_runtime_context().get_node_id()
    return any(node["NodeID"] == here and API_RESOURCE in node["Resources"] for node in ray.nodes())


def start_job(
    store: JobStore, params: JobParams, *, job_id: str, user: str, max_running: int
) -> str:
    """Record ``user``'s job as the API's and hand it to the runner actor; returns at once.

    Raises ``RunningJobLimitError`` when ``user`` already has ``max_running`` jobs
    queued or running (0: no limit).
    """
    store.create_job(
        job_id=job_id,
        params=params.model_copy(update={"owner": API_OWNER}),
        user=user,
        max_running=max_running,
    )
    run_job(job_id)
    return job_id


def run_job(job_id: str) -> bool:
    """Hand the stored API job ``job_id`` to the runner actor (a new one, or one to
    resume); False if the runner is running it already."""
    runner = job_runner(get_settings().resolved_store_url)
    return bool(ray.get(runner.start.remote(job_id), timeout=120))
