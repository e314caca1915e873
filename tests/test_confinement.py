"""Confinement of API jobs to their input root, links included, from scan to worker."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ocr_ray.accuracy import cer
from ocr_ray.exceptions import OutsideInputRootError
from ocr_ray.inputs.confine import pinned
from ocr_ray.inputs.documents import probe_file
from ocr_ray.inputs.scan import iter_files
from tests.conftest import PAGES, ApiServer, ground_truth, wait_done


def links_tree(root: Path, outside: Path) -> Path:
    """A folder in ``root`` holding every kind of link the confinement must handle."""
    shutil.copy(PAGES / "c015.tif", outside / "secret.tif")
    (outside / "folder").mkdir(exist_ok=True)
    shutil.copy(PAGES / "d027.tif", outside / "folder" / "hidden-page.tif")
    (root / "samples-in").mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", root / "samples-in" / "photo.tif")
    folder = root / "links"
    folder.mkdir()
    shutil.copy(PAGES / "phototest.tif", folder / "a-page.tif")
    os.symlink(outside / "secret.tif", folder / "b-file-link.tif")  # a file link
    os.symlink(outside / "folder", folder / "c-folder-link")  # a folder link
    os.symlink(outside / "secret.tif", root / ".hop.tif")  # a chain: link -> link -> out
    os.symlink(root / ".hop.tif", folder / "d-chain.tif")
    escape = os.path.relpath(outside / "secret.tif", root / "samples-in")
    os.symlink(f"../samples-in/{escape}", folder / "e-dotdot.tif")  # '..' that leaves
    os.symlink("../samples-in/photo.tif", folder / "f-inside.tif")  # '..' that stays in
    return folder


def test_the_scan_does_not_follow_links_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    folder = links_tree(root, outside)
    names = [Path(p).name for p in iter_files([str(folder)], root=str(root))]
    # Each link appears once; the outside folder is not entered.
    assert names == [
        "a-page.tif",
        "b-file-link.tif",
        "c-folder-link",
        "d-chain.tif",
        "e-dotdot.tif",
        "f-inside.tif",
    ]
    unconfined = [Path(p).name for p in iter_files([str(folder)])]  # CLI and library
    assert "hidden-page.tif" in unconfined


def test_a_link_swapped_after_the_check_cannot_redirect_the_read(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    (root / "inside.tif").write_bytes(b"inside")
    (outside / "secret.tif").write_bytes(b"secret")
    link = root / "page.tif"
    os.symlink(root / "inside.tif", link)
    with pinned(str(link), str(root)) as source:
        link.unlink()
        os.symlink(outside / "secret.tif", link)
        assert Path(source).read_bytes() == b"inside"
    with pytest.raises(OutsideInputRootError):
        probe_file(str(link), dpi=300, max_pixels=10**8, root=str(root))


@pytest.mark.slow
def test_an_api_job_reads_nothing_outside_its_root(api_server: ApiServer, tmp_path: Path) -> None:
    outside = api_server.root.parent / "outside-confinement"
    outside.mkdir(exist_ok=True)
    folder = links_tree(api_server.root, outside)
    with api_server.client() as http:
        response = http.post("/api/bulk/process", json={"folder_path": str(folder)})
        job_id = response.json()["job_id"]
        progress = wait_done(http, job_id)
        lines = http.get(f"/api/bulk/results/{job_id}", params={"format": "jsonl"}).text
    records = {Path(r["path"]).name: r for r in map(json.loads, lines.splitlines())}
    assert (progress["total"], progress["succeeded"], progress["skipped"]) == (6, 2, 4)
    refused = ["b-file-link.tif", "c-folder-link", "d-chain.tif", "e-dotdot.tif"]
    for name in refused:
        assert records[name]["status"] == "skipped", name
        assert records[name]["error"]["code"] == "outside_input_root", name
        assert records[name]["pages"] == [], name
    assert cer(records["f-inside.tif"]["text"], ground_truth("phototest")) <= 0.03
    assert cer(records["a-page.tif"]["text"], ground_truth("phototest")) <= 0.03
    photo_words = set(ground_truth("phototest").split())
    secret_words = {w for w in ground_truth("c015").split() if len(w) > 6} - photo_words
    assert len(secret_words) > 10 and not any(word in lines for word in secret_words)
