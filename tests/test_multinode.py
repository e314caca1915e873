"""Several Ray nodes (ray.cluster_utils.Cluster); a node removed mid-job loses nothing."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

import ocr_ray
from ocr_ray.accuracy import cer
from tests.conftest import distinct_pages, ground_truth

pytestmark = pytest.mark.slow


def test_removing_a_node_mid_job_loses_and_doubles_nothing(
    cluster: Cluster, tmp_path: Path, store_url: str
) -> None:
    keep = cluster.add_node(num_cpus=1)
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    folder = tmp_path / "in"
    distinct_pages(folder, 16)

    # The slow provider marks each page it starts and then takes 2 s, so the node is
    # removed while it is surely running a page (on a loaded machine it could otherwise
    # be between two, or still starting its worker).
    started = Path(os.environ["OCR_RAY_TEST_CRASH_DIR"]) / "slow-started"
    job = ocr_ray.submit(folder, provider="slow", address=cluster.address, store=store_url)
    deadline = time.monotonic() + 180
    while job.progress().succeeded < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    seen = set(started.glob(f"{doomed.node_id}-*"))
    while not set(started.glob(f"{doomed.node_id}-*")) - seen and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.remove_node(doomed)
    summary = job.wait(timeout=600, progress=False)

    records = list(job.results())
    names = Counter(Path(r.path).name for r in records)
    assert sorted(names) == [f"p{i:02d}.png" for i in range(16)] and set(names.values()) == {1}
    assert summary.status is ocr_ray.JobStatus.completed
    assert summary.succeeded == 16 and summary.failed == 0
    used = {r.node_id for r in records}
    assert used == {keep.node_id, doomed.node_id}  # both nodes worked before the loss
    late = [r for r in records if r.node_id == keep.node_id]
    assert len(late) > len(records) - len(late)  # the survivor finished the job
    truth = ground_truth("c015")
    assert all(cer(r.text, truth) <= 0.05 for r in records)
    # The task running on the removed node was retried by Ray on the survivor.
    assert max(r.attempts for r in records) >= 2
