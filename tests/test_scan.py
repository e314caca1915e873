"""Input discovery: stable order, hidden files, symlink loops, streaming."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocr_ray.exceptions import InputNotFoundError
from ocr_ray.inputs.scan import check_inputs, iter_files


def test_order_is_stable_depth_first_and_skips_hidden(tmp_path: Path) -> None:
    for name in (
        "b.png",
        "a.tif",
        "sub/z.pdf",
        "sub/c.jpg",
        ".hidden.png",
        ".git/x.png",
        "a2/d.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    names = [os.path.relpath(p, tmp_path) for p in iter_files([str(tmp_path)])]
    assert names == ["a.tif", "a2/d.png", "b.png", "sub/c.jpg", "sub/z.pdf"]
    flat = [os.path.relpath(p, tmp_path) for p in iter_files([str(tmp_path)], recursive=False)]
    assert flat == ["a.tif", "b.png"]


def test_symlink_loops_terminate_and_fifos_are_not_candidates(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "page.png").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "d" / "loop")
    os.mkfifo(tmp_path / "d" / "pipe.png")
    found = list(iter_files([str(tmp_path)]))
    assert found == [str(tmp_path / "d" / "page.png")]


def test_scan_streams_before_listing_everything(tmp_path: Path) -> None:
    for index in range(50):
        (tmp_path / f"dir{index:02d}").mkdir()
        (tmp_path / f"dir{index:02d}" / "p.png").write_bytes(b"x")
    stream = iter_files([str(tmp_path)])
    assert next(stream).endswith("dir00/p.png")  # a generator: later dirs not yet read


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="missing"):
        check_inputs([str(tmp_path / "missing")])
