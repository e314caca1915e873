"""Ray's autoscaler on a real Docker Swarm, with the swarm node provider: a stack of
its own that starts with no workers."""

from __future__ import annotations

import pytest

from tests.conftest import distinct_pages
from tests.swarm_support import Stack, deploy, until

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(1800)]


def test_the_autoscaler_adds_workers_for_pending_tasks_and_removes_idle_ones(
    swarm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    inputs = tmp_path_factory.mktemp("auto-inputs")
    distinct_pages(inputs / "eight", 8)
    idle = {"OCR_RAY_AUTOSCALER_IDLE_MINUTES": "0.25"}  # removal after 15 s idle, not 60
    with deploy(swarm_env, "ocra", inputs, "--workers", "0", "--autoscaler", **idle) as auto:
        assert until(lambda: not _autoscaled(auto), 60)
        job_id = auto.submit("eight")
        assert until(lambda: len(_autoscaled(auto)) >= 1, 300)
        progress = auto.wait_job(job_id, timeout=900)
        assert (progress["status"], progress["succeeded"]) == ("completed", 8)
        assert until(lambda: not _autoscaled(auto), 420, 5)  # idle nodes removed


def _autoscaled(stack: Stack) -> list[str]:
    return [name for name in stack.status()["services"] if "_ray-auto-" in name]
