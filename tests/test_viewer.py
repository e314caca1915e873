"""The results viewer's routes over real HTTP: page images as read, word boxes at the
width asked, a file that changed or vanished since, download links, retry and resume."""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import pytest
from PIL import Image

from tests.conftest import PAGES, ApiServer, ground_truth, wait_done

pytestmark = pytest.mark.slow


def _files(http, job: str) -> dict[str, dict]:
    listed = http.get(f"/api/bulk/jobs/{job}/files").raise_for_status().json()["data"]
    return {entry["path"]: entry for entry in listed}


def test_a_turned_page_is_shown_upright_with_its_words_at_the_width_asked(
    api_server: ApiServer,
) -> None:
    folder = api_server.root / "viewer-turned"
    folder.mkdir(exist_ok=True)
    upright = Image.open(PAGES / "c015.tif")
    upright.rotate(90, expand=True).save(folder / "turned.png", dpi=(300, 300))
    with api_server.client() as http:
        job = http.post("/api/bulk/process", json={"folder_path": "viewer-turned"}).json()
        wait_done(http, job["job_id"])
        [entry] = _files(http, job["job_id"]).values()
        base = f"/api/bulk/jobs/{job['job_id']}/files/{entry['id']}/pages/1"
        detail = http.get(f"/api/bulk/jobs/{job['job_id']}/files/{entry['id']}").json()
        assert detail["pages"][0]["rotation"] in (90, 270)
        image = Image.open(io.BytesIO(http.get(f"{base}/image?width=600").content))
        # Upright: as wide against as tall as the page before it was turned.
        assert image.width == 600
        assert image.height == round(upright.height * 600 / upright.width)
        words = http.get(f"{base}/words?width=600").json()
        assert (words["width"], words["height"]) == image.size
        # The boxes' words are the page's words: most of its transcription's.
        truth = set(ground_truth("c015").split())
        found = {w["text"] for w in words["words"]}
        assert len(truth & found) >= 0.8 * len(truth), sorted(truth - found)
        for word in words["words"]:
            left, top, right, bottom = word["box"]
            assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
            assert 0 <= word["confidence"] <= 100
        half = http.get(f"{base}/words?width=300").json()
        assert half["width"] == 300 and len(half["words"]) == len(words["words"])
        wide = http.get(f"{base}/image?width=100000")
        assert wide.status_code == 422 and "width: at most" in wide.json()["detail"]


def test_a_changed_or_vanished_file_is_gone_and_a_link_out_is_refused(
    api_server: ApiServer, tmp_path
) -> None:
    folder = api_server.root / "viewer-changes"
    folder.mkdir(exist_ok=True)
    for name in ("changed.tif", "vanished.tif", "linked.tif"):
        shutil.copy(PAGES / "phototest.tif", folder / name)
    with api_server.client() as http:
        job = http.post("/api/bulk/process", json={"folder_path": "viewer-changes"}).json()
        wait_done(http, job["job_id"])
        files = _files(http, job["job_id"])
        image = {
            name: f"/api/bulk/jobs/{job['job_id']}/files/{entry['id']}/pages/1/image?width=400"
            for name, entry in files.items()
        }
        for route in image.values():  # shown, and so cached, while unchanged
            assert http.get(route).status_code == 200
        shutil.copy(PAGES / "c015.tif", folder / "changed.tif")
        os.remove(folder / "vanished.tif")
        outside = tmp_path / "outside.tif"
        shutil.copy(PAGES / "phototest.tif", outside)
        os.remove(folder / "linked.tif")
        os.symlink(outside, folder / "linked.tif")
        changed, vanished, linked = (
            http.get(image[f"{n}.tif"]) for n in ("changed", "vanished", "linked")
        )
        assert changed.status_code == 410 and "(file_changed)" in changed.json()["detail"]
        assert vanished.status_code == 410 and "(file_not_found)" in vanished.json()["detail"]
        assert linked.status_code == 403 and "input root" in linked.json()["detail"]


def test_download_links_retry_of_the_failed_files_and_resume(api_server: ApiServer) -> None:
    folder = api_server.root / "viewer-retry"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", folder / "good.tif")
    (folder / "bad.png").write_bytes(b"not really a png")
    with api_server.client() as http, api_server.client("no-key") as anonymous:
        first = http.post(
            "/api/bulk/process", json={"folder_path": "viewer-retry", "languages": ["eng"]}
        ).json()["job_id"]
        wait_done(http, first)
        link = http.post(f"/api/bulk/jobs/{first}/download-link?format=zip").json()
        got = anonymous.get(link["url"])  # the link is the credential: no key
        assert got.status_code == 200
        with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
            assert archive.read("results.jsonl").count(b"\n") == 2
        forged = link["url"][:-4] + ("aaaa" if not link["url"].endswith("aaaa") else "bbbb")
        assert anonymous.get(forged).status_code == 404
        assert http.post(f"/api/bulk/jobs/{first}/resume").status_code == 409  # it ended

        retried = http.post(f"/api/bulk/jobs/{first}/retry?files=failed")
        assert retried.status_code == 202, retried.text
        second = retried.json()["job_id"]
        progress = wait_done(http, second)
        assert (progress["retry_of"], progress["total"], progress["failed"]) == (first, 1, 1)
        assert list(_files(http, second)) == ["bad.png"]
        assert progress["options"]["languages"] == ["eng"]  # the first job's options
        unread = http.post(f"/api/bulk/jobs/{second}/retry?files=unread")
        assert unread.status_code == 409 and "no unread files" in unread.json()["detail"]
