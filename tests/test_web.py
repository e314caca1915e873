"""The web page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PAGES, ApiServer

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
    page.wait_for_selector("#auth-status:has-text('401')")


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
