"""Shared fixtures: a real local Ray, the real sample pages, and bad inputs made on disk."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "examples" / "samples"
PAGES = SAMPLES / "pages"
GROUND_TRUTH = SAMPLES / "ground-truth"

# Set before anything starts Ray, so the workers inherit it.
_HOME = Path(tempfile.mkdtemp(prefix="ocr-ray-tests-"))
os.environ.update(
    OCR_RAY_HOME=str(_HOME),
    OCR_RAY_INCLUDE_DASHBOARD="0",
    OCR_RAY_EXTRA_PROVIDERS="faulty=tests.fault_engines:FaultyProvider",
    OCR_RAY_TEST_CRASH_DIR=str(_HOME / "crash-markers"),
    PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
)
(_HOME / "crash-markers").mkdir()


def ground_truth(name: str) -> str:
    """The transcription of a sample page (``name`` without suffix)."""
    return (GROUND_TRUTH / f"{name}.gt.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A real local Ray shared by the tests that need one."""
    import ray

    from ocr_ray._ray_init import connect

    if not ray.is_initialized():
        connect(None)
    yield


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store per test."""
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A writable copy of a few real sample pages."""
    target = tmp_path / "pages"
    target.mkdir()
    for name in ("phototest.tif", "c015.tif", "d027.tif"):
        shutil.copy(PAGES / name, target / name)
    return target


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
