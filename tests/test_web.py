"""The web page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PAGES, ApiServer, wait_done

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def test_submit_a_folder_watch_progress_and_download(
    api_server: ApiServer, browser, tmp_path: Path
) -> None:
    folder = api_server.root / "web"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "c015.tif", folder / "c015.tif")
    shutil.copy(PAGES / "phototest.tif", folder / "phototest.tif")
    (folder / "broken.png").write_bytes(b"not really a png")
    _blank_page(folder / "blank.png")
    page = browser.new_page(accept_downloads=True)
    page.goto(api_server.url + "/")
    page.fill("#token", api_server.token)
    page.click("#save-token")
    page.wait_for_selector("#auth-status:has-text('connected')")
    assert page.locator("#provider").input_value() == "tesseract"
    assert page.locator("#languages input[value=eng]").is_checked()
    page.fill("#folder", "web")
    # The page's format choices come from the API's registry: a plugin's too.
    assert page.locator("#archive label:has(input[value=wordcount])").inner_text().strip() == (
        "word counts (plugin)"
    )
    page.check("#archive input[value=pdf]")
    page.click("#start")
    page.wait_for_selector("#download:not([hidden])", timeout=180_000)
    assert page.locator("#job-status").inner_text() == "completed"
    counts = page.locator("#counts").inner_text()
    assert counts.startswith("3/3 pages · 4/4 files · 3 ok · 1 failed"), counts
    assert "· 1 to review ·" in counts  # the blank page
    review = page.locator("#review tbody tr")
    assert review.count() == 1
    assert "blank.png" in review.nth(0).inner_text()
    assert "blank_page" in review.nth(0).inner_text()
    failures = page.locator("#failures tbody tr")
    assert failures.count() == 1
    assert "broken.png" in failures.nth(0).inner_text()
    assert "unsupported_format" in failures.nth(0).inner_text()
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "results.zip"
    download_info.value.save_as(saved)
    import zipfile

    with zipfile.ZipFile(saved) as archive:
        assert "results.jsonl" in archive.namelist()
        assert archive.read("results.jsonl").count(b"\n") == 4
        searchable = {"pdf/c015.tif.pdf", "pdf/phototest.tif.pdf", "pdf/blank.png.pdf"}
        assert searchable <= set(archive.namelist())
        assert archive.read("pdf/c015.tif.pdf").startswith(b"%PDF-")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert page.locator("#job-rows tr").count() >= 1


def _blank_page(path: Path) -> None:
    from PIL import Image

    Image.new("L", (1240, 1754), 255).save(path, dpi=(150, 150))


def test_a_wrong_token_is_reported(api_server: ApiServer, browser) -> None:
    page = browser.new_page()
    page.goto(api_server.url + "/")
    page.fill("#token", "wrong-token-wrong-token")
    page.click("#save-token")
    page.wait_for_selector("#auth-status:has-text('This key was not accepted')")
    assert page.locator("#workspace").is_hidden()
    assert "ocr-ray keys create" in page.locator("#key-help").inner_text()


def test_the_page_works_with_a_users_key_and_shows_only_their_jobs(
    api_server: ApiServer, browser
) -> None:
    folder = api_server.root / "web-user"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", folder / "phototest.tif")
    with api_server.client() as admin:  # someone else's job, which the user must not see
        others = admin.post("/api/bulk/process", json={"folder_path": "web-user"}).json()
    key = api_server.create_key("webuser")
    page = browser.new_page()
    page.goto(api_server.url + "/")
    page.fill("#token", key)
    page.click("#save-token")
    page.wait_for_selector("#auth-status:has-text('connected as webuser')")
    page.fill("#folder", "web-user")
    page.click("#start")
    page.wait_for_selector("#job-status:has-text('completed')", timeout=180_000)
    assert page.locator("#counts").inner_text().startswith("1/1 pages · 1/1 files · 1 ok")
    mine = page.locator("#job-id").inner_text()
    page.click("#refresh")
    page.wait_for_selector(f"#job-rows tr:has-text('{mine}')")
    rows = page.locator("#job-rows tr")
    assert rows.count() == 1 and others["job_id"] not in rows.nth(0).inner_text()


LISTED = "document.querySelectorAll('#file-list li[data-id]').length"


def _doubtful_page(path: Path) -> None:
    """A real page made hard to read (a third of its resolution, blurred): the engine
    doubts most of its words, so the page is flagged low_confidence."""
    from PIL import Image, ImageFilter

    page = Image.open(PAGES / "d027.tif").convert("L").reduce(3)
    page.filter(ImageFilter.GaussianBlur(1.0)).save(path, dpi=(100, 100))


def _open_viewer(page, api_server: ApiServer, key: str, folder: str) -> None:
    page.goto(api_server.url + "/")
    assert page.locator("#workspace").is_hidden()  # no form before a key
    page.fill("#token", key)
    page.click("#save-token")
    page.wait_for_selector("#auth-status:has-text('connected')")
    page.fill("#folder", folder)
    page.click("#start")
    page.wait_for_selector("#open-viewer:not([hidden])", timeout=180_000)
    page.click("#open-viewer")
    page.wait_for_selector("#file-list li[data-id]")


def test_the_viewer_shows_pages_boxes_the_review_queue_search_and_failures(
    api_server: ApiServer, browser, tmp_path: Path
) -> None:
    folder = api_server.root / "viewer"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "c015.tif", folder / "a-c015.tif")  # the one page with "Prologue"
    _doubtful_page(folder / "b-doubtful.png")
    _blank_page(folder / "c-blank.png")
    (folder / "d-broken.png").write_bytes(b"not really a png")
    key = api_server.create_key("viewer-user")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _open_viewer(page, api_server, key, "viewer")
    assert page.locator("#file-list li[data-id]").count() == 4
    # The review queue's first page: the doubtful one, drawn with its words boxed.
    page.click("#next-review")
    page.wait_for_selector("#page-title:has-text('b-doubtful.png')")
    page.wait_for_selector("#boxes .word")
    assert page.eval_on_selector("#page-image", "img => img.naturalWidth") > 0
    boxes, doubtful = page.locator("#boxes .word").count(), page.locator("#boxes .word.doubt")
    assert 0 < doubtful.count() < boxes, (doubtful.count(), boxes)
    assert "low_confidence" in page.locator("#page-facts").inner_text()
    assert page.locator("#page-text").inner_text().strip()
    page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    # Next: the blank page; previous: back to the doubtful one.
    page.click("#next-review")
    page.wait_for_selector("#page-title:has-text('c-blank.png')")
    page.wait_for_selector("#page-facts:has-text('blank_page')")
    page.click("#prev-review")
    page.wait_for_selector("#page-title:has-text('b-doubtful.png')")
    # A word on one page only: the search lists that file and page alone.
    page.fill("#search", "Prologue")
    page.click("#search-form button")
    page.wait_for_selector("#file-list li:has-text('found on p. 1')")
    found = page.locator("#file-list li[data-id]")
    assert found.count() == 1 and "a-c015.tif" in found.nth(0).inner_text()
    # The failed file shows its code.
    page.fill("#search", "")
    page.click("#search-form button")
    page.wait_for_function(f"{LISTED} === 4")
    page.select_option("#filter", "failed")
    page.wait_for_function(f"{LISTED} === 1")
    page.click("#file-list li.failed")
    page.wait_for_selector("#file-error:has-text('unsupported_format')")
    # At a phone's width the page still fits: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.select_option("#filter", "review")
    page.wait_for_function(f"{LISTED} === 2")
    page.click("#file-list li:has-text('b-doubtful.png')")
    page.wait_for_selector("#boxes .word")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shown = page.locator("#page-image").bounding_box()
    assert shown is not None and 0 < shown["width"] <= 390


def test_another_users_key_gets_404_on_a_pages_image_and_words(api_server: ApiServer) -> None:
    folder = api_server.root / "viewer-owned"
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", folder / "phototest.tif")
    owner, other = api_server.create_key("page-owner"), api_server.create_key("page-other")
    with api_server.client(owner) as mine, api_server.client(other) as theirs:
        job = mine.post("/api/bulk/process", json={"folder_path": "viewer-owned"}).json()["job_id"]
        wait_done(mine, job)
        (listed,) = mine.get(f"/api/bulk/jobs/{job}/files").json()["data"]
        base = f"/api/bulk/jobs/{job}/files/{listed['id']}/pages/1"
        image, words = mine.get(f"{base}/image?width=400"), mine.get(f"{base}/words?width=400")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert words.status_code == 200 and words.json()["width"] == 400
        for route in (f"{base}/image", f"{base}/words", f"/api/bulk/jobs/{job}/files"):
            refused = theirs.get(route)
            assert refused.status_code == 404, route
            assert refused.json()["detail"] == f"no job {job!r}"


def test_managing_jobs_confirmed_cancel_reload_skipped_uploads_retry_and_errors(
    api_server: ApiServer, browser, tmp_path: Path
) -> None:
    """The page as a new user meets it: errors in words (a refused folder names the
    roots), a cancel that asks first and no full bar for a job cut short, the job kept
    over a reload, skipped files listed, uploads under their own names, and a retry of
    the failed files linked to the first job."""
    from tests.pages import distinct_pages

    many = api_server.root / "web-many"
    distinct_pages(many, 12)
    outside = tmp_path / "outside.tif"
    shutil.copy(PAGES / "phototest.tif", outside)
    os.symlink(outside, many / "link-out.tif")
    page = browser.new_page()
    page.goto(api_server.url + "/")
    page.fill("#token", api_server.create_key("manager"))
    page.click("#save-token")
    page.wait_for_selector("#auth-status:has-text('connected')")
    page.fill("#folder", "/etc")
    page.click("#start")
    page.wait_for_selector("#form-error:has-text('Could not start the job')")
    refused = page.locator("#form-error").inner_text()
    assert str(api_server.root) in refused and "403" not in refused, refused

    page.fill("#folder", "web-many")
    page.click("#start")
    page.wait_for_selector("#job-status:has-text('running')", timeout=60_000)
    job = page.locator("#job-id").inner_text()
    page.wait_for_selector(f"#job-rows tr:has-text('{job}'):has-text('running')", timeout=30_000)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#cancel")
    page.wait_for_timeout(500)
    assert page.locator("#job-status").inner_text() == "running"  # not without a yes
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    page.wait_for_selector("#job-status:has-text('cancelled')", timeout=120_000)
    assert page.eval_on_selector("#bar", "bar => bar.value") < 100
    assert "not read (cancelled)" in page.locator("#counts").inner_text()
    assert "web-many" in page.locator(f"#job-rows tr:has-text('{job}')").inner_text()

    page.reload()  # the job panel survives, with what it showed
    page.wait_for_selector(f"#job-id:has-text('{job}')")
    page.wait_for_selector("#skipped:not([hidden]) tbody tr:has-text('link-out.tif')")
    assert "outside_input_root" in page.locator("#skipped").inner_text()
    assert page.locator("#read-unread").is_visible()

    broken = tmp_path / "my scan.png"
    broken.write_bytes(b"not really a png")
    page.set_input_files("#files", [str(broken), str(PAGES / "phototest.tif")])
    page.click("#start")
    page.wait_for_selector("#failures:not([hidden]) tbody tr", timeout=180_000)
    first = page.locator("#job-id").inner_text()
    assert page.locator("#failures tbody tr").nth(0).inner_text().startswith("my scan.png")
    assert "uploaded files" in page.locator("#job-about").inner_text()
    page.click("#retry-failed")
    page.wait_for_selector(f"#job-about:has-text('retries job {first}')")
    page.wait_for_selector("#job-status:has-text('completed')", timeout=180_000)
    assert page.locator("#job-id").inner_text() != first
    assert (
        page.locator("#counts").inner_text().startswith("0/0 pages · 1/1 files · 0 ok · 1 failed")
    )
