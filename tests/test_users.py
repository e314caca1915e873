"""API users over real HTTP: per-user keys, job ownership, limits, audit, slowed guessing."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import PAGES, ApiServer, distinct_pages, wait_done

pytestmark = pytest.mark.slow

Call = Callable[[httpx.Client], httpx.Response]


def one_page_folder(server: ApiServer, name: str) -> str:
    folder = server.root / name
    folder.mkdir(exist_ok=True)
    shutil.copy(PAGES / "phototest.tif", folder / "page.tif")
    return name


def submit(http: httpx.Client, folder: str) -> str:
    response = http.post("/api/bulk/process", json={"folder_path": folder, "languages": ["en"]})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_every_api_route_for_two_users_an_admin_and_a_revoked_key(api_server: ApiServer) -> None:
    folder = one_page_folder(api_server, "matrix")
    keys = {name: api_server.create_key(name) for name in ("alice", "bob", "mallory")}
    keys["ops"] = api_server.create_key("ops", "--admin")
    with api_server.client(keys["mallory"]) as http:
        assert http.get("/api/me").json() == {"user": "mallory", "admin": False}
    assert api_server.cli("keys", "revoke", "mallory").returncode == 0  # server keeps running
    with api_server.client(keys["alice"]) as alice, api_server.client(keys["bob"]) as bob:
        job = submit(alice, folder)
        assert wait_done(alice, job)["status"] == "completed"
        bobs_job = submit(bob, folder)
        wait_done(bob, bobs_job)
        files = f"/api/bulk/jobs/{job}/files"
        file_id = alice.get(files).json()["data"][0]["id"]
    upload = {"files": [("files", ("p.tif", (PAGES / "phototest.tif").read_bytes()))]}
    # route -> (request, expected status for alice (owner), bob, ops (admin), bootstrap
    # admin, the revoked key). Every /api route of the app must be here.
    matrix: dict[tuple[str, str], tuple[Call, tuple[int, ...]]] = {
        ("POST", "/api/bulk/process"): (
            lambda h: h.post("/api/bulk/process", json={"folder_path": folder}),
            (202, 202, 202, 202, 401),
        ),
        ("POST", "/api/bulk/upload"): (
            lambda h: h.post("/api/bulk/upload", **upload),
            (202, 202, 202, 202, 401),
        ),
        ("GET", "/api/bulk/progress/{job_id}"): (
            lambda h: h.get(f"/api/bulk/progress/{job}"),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/jobs"): (lambda h: h.get("/api/bulk/jobs"), (200, 200, 200, 200, 401)),
        ("POST", "/api/bulk/jobs/{job_id}/cancel"): (
            lambda h: h.post(f"/api/bulk/jobs/{job}/cancel"),
            (409, 404, 409, 409, 401),  # 409: the job has ended
        ),
        ("GET", "/api/bulk/files/{job_id}"): (
            lambda h: h.get(f"/api/bulk/files/{job}"),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/results/{job_id}"): (
            lambda h: h.get(f"/api/bulk/results/{job}", params={"format": "jsonl"}),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/options"): (
            lambda h: h.get("/api/bulk/options"),
            (200, 200, 200, 200, 401),
        ),
        ("GET", "/api/bulk/jobs/{job_id}/files"): (
            lambda h: h.get(f"{files}"),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}"): (
            lambda h: h.get(f"{files}/{file_id}"),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}/pages/{n}/image"): (
            lambda h: h.get(f"{files}/{file_id}/pages/1/image"),
            (200, 404, 200, 200, 401),
        ),
        ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}/pages/{n}/words"): (
            lambda h: h.get(f"{files}/{file_id}/pages/1/words"),
            (200, 404, 200, 200, 401),
        ),
        ("POST", "/api/bulk/jobs/{job_id}/download-link"): (
            lambda h: h.post(f"/api/bulk/jobs/{job}/download-link"),
            (200, 404, 200, 200, 401),
        ),
        ("POST", "/api/bulk/jobs/{job_id}/retry"): (
            lambda h: h.post(f"/api/bulk/jobs/{job}/retry"),
            (409, 404, 409, 409, 401),  # 409: no failed file to retry
        ),
        ("POST", "/api/bulk/jobs/{job_id}/resume"): (
            lambda h: h.post(f"/api/bulk/jobs/{job}/resume"),
            (409, 404, 409, 409, 401),  # 409: it completed
        ),
        ("GET", "/api/cluster/workers"): (
            lambda h: h.get("/api/cluster/workers"),
            (200, 200, 200, 200, 401),
        ),
        ("GET", "/api/me"): (lambda h: h.get("/api/me"), (200, 200, 200, 200, 401)),
        ("GET", "/api/admin/keys"): (lambda h: h.get("/api/admin/keys"), (403, 403, 200, 200, 401)),
        ("GET", "/api/admin/audit"): (
            lambda h: h.get("/api/admin/audit"),
            (403, 403, 200, 200, 401),
        ),
    }
    spec = httpx.get(f"{api_server.url}/openapi.json").json()
    routes = {
        (m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/api")
    }
    assert routes == set(matrix), routes ^ set(matrix)
    callers = [keys["alice"], keys["bob"], keys["ops"], api_server.token, keys["mallory"]]
    started: list[tuple[str, str]] = []
    for number, ((method, path), (call, expected)) in enumerate(sorted(matrix.items())):
        for index, key in enumerate(callers):
            # Each caller from its own address, the revoked key from a new one each time:
            # it is refused, and repeated refusals from one address would be slowed.
            source = f"127.0.1.{index + 1}" if index < 4 else f"127.0.2.{number + 1}"
            with api_server.client(key, source=source) as http:
                response = call(http)
            assert response.status_code == expected[index], (method, path, index, response.text)
            if response.status_code == 202:
                started.append((key, response.json()["job_id"]))
    for key, job_id in started:  # what the matrix started is the starter's, and finishes
        with api_server.client(key) as http:
            assert wait_done(http, job_id)["status"] == "completed"


def test_a_user_sees_only_their_own_jobs_and_others_look_missing(api_server: ApiServer) -> None:
    folder = one_page_folder(api_server, "owned")
    carol, dave = api_server.create_key("carol"), api_server.create_key("dave")
    with api_server.client(carol) as c, api_server.client(dave) as d:
        mine = submit(c, folder)
        wait_done(c, mine)
        listed = c.get("/api/bulk/jobs").json()
        assert [j["job_id"] for j in listed["data"]] == [mine] and listed["count"] == 1
        assert listed["data"][0]["user"] == "carol"
        assert d.get("/api/bulk/jobs").json() == {"data": [], "count": 0}
        # Someone else's job and a job that never existed answer alike.
        theirs = d.get(f"/api/bulk/progress/{mine}")
        missing = d.get("/api/bulk/progress/no-such-job")
        assert (theirs.status_code, missing.status_code) == (404, 404)
        assert theirs.json()["detail"] == f"no job {mine!r}"
        assert d.get("/api/bulk/jobs", params={"all": "true"}).status_code == 403
    with api_server.client() as admin:  # the bootstrap key is an admin's
        everyone = admin.get("/api/bulk/jobs", params={"all": "true", "limit": 500}).json()
        assert mine in {j["job_id"] for j in everyone["data"]}
        assert mine not in {j["job_id"] for j in admin.get("/api/bulk/jobs").json()["data"]}
        assert admin.get(f"/api/bulk/progress/{mine}").status_code == 200


def test_a_revoked_key_is_refused_at_once(api_server: ApiServer) -> None:
    key = api_server.create_key("erin")
    with api_server.client(key, source="127.0.4.1") as http:
        assert http.get("/api/me").status_code == 200
        assert api_server.cli("keys", "revoke", "erin").returncode == 0
        refused = http.get("/api/me")
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    listed = api_server.cli("keys", "list", "--json").stdout.splitlines()
    erin = next(json.loads(line) for line in listed if json.loads(line)["name"] == "erin")
    assert erin["revoked_at"] is not None and "key_hash" not in erin
    again = api_server.cli("keys", "revoke", "erin")
    assert again.returncode == 2 and "no live key" in again.stderr
    # Only hashes are stored: the key itself is nowhere in the store's files.
    for path in api_server.home.glob("jobs.db*"):
        assert key.encode() not in path.read_bytes()


def test_running_job_limit_answers_429(api_server: ApiServer) -> None:
    distinct_pages(api_server.root / "quota-slow", 12)
    folder = one_page_folder(api_server, "quota-small")
    key = api_server.create_key("frank", "--max-running-jobs", "1")
    with api_server.client(key) as http:
        first = submit(http, "quota-slow")
        refused = http.post("/api/bulk/process", json={"folder_path": folder})
        assert refused.status_code == 429
        assert "OCR_RAY_USER_MAX_RUNNING_JOBS" in refused.json()["detail"]
        upload = http.post(
            "/api/bulk/upload", files=[("files", ("p.tif", (PAGES / "phototest.tif").read_bytes()))]
        )
        assert upload.status_code == 429
        with api_server.client() as admin:  # other users are not held back by frank's limit
            assert admin.post("/api/bulk/process", json={"folder_path": folder}).status_code == 202
        assert http.post(f"/api/bulk/jobs/{first}/cancel").status_code == 200
        assert wait_done(http, first)["status"] == "cancelled"
        wait_done(http, submit(http, folder))  # a slot is free again
        assert http.get("/api/bulk/jobs").json()["count"] == 2  # the refused ones left no job


def test_the_audit_trail_says_who_did_what(api_server: ApiServer) -> None:
    folder = one_page_folder(api_server, "audited")
    key = api_server.create_key("grace")
    with api_server.client(key) as http:
        job = submit(http, folder)
        wait_done(http, job)
        assert http.get(f"/api/bulk/results/{job}").status_code == 200
        assert http.get("/api/admin/audit").status_code == 403
    with api_server.client() as admin:
        trail = admin.get("/api/admin/audit", params={"job_id": job}).json()
    assert [(e["user"], e["action"]) for e in reversed(trail)] == [
        ("grace", "submit"),
        ("grace", "download"),
    ]
    assert trail[0]["detail"] == "zip" and trail[1]["detail"].endswith("/audited")
    assert trail[0]["client"] == "127.0.0.1"
    printed = api_server.cli("audit", "--user", "grace", "--json").stdout.splitlines()
    assert [json.loads(line)["action"] for line in printed] == ["download", "submit"]
    keys = api_server.cli("audit", "--json", "--limit", "1000").stdout
    assert '"key_create"' in keys and '"grace"' in keys


def test_repeated_wrong_keys_from_one_address_are_slowed(api_server: ApiServer) -> None:
    key = api_server.create_key("henry")
    with api_server.client("wrong-" * 6, source="127.0.5.1") as guesser:
        codes = [guesser.get("/api/me").status_code for _ in range(6)]
        locked = guesser.get("/api/me")
    assert codes == [401] * 6  # five free, the sixth starts a lockout
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    # A right key behind the same address (a proxy, a NAT) goes on at once.
    with api_server.client(key, source="127.0.5.1") as same_address:
        assert same_address.get("/api/me").status_code == 200
    with api_server.client(key, source="127.0.5.2") as elsewhere:
        assert elsewhere.get("/api/me").status_code == 200


def test_a_guesser_making_up_keys_is_slowed_without_locking_out_a_key_in_use(
    api_server: ApiServer,
) -> None:
    key = api_server.create_key("ines")
    with api_server.client(key, source="127.0.5.3") as valid:
        assert valid.get("/api/me").status_code == 200  # in use before the guessing
        codes = Counter()
        for index in range(60):  # a new made-up key each time: no prefix repeats
            with api_server.client(f"guess-{index:04d}-" + "x" * 30, source="127.0.5.3") as g:
                codes[g.get("/api/me").status_code] += 1
            assert valid.get("/api/me").status_code == 200
    # Fifty wrong keys from one address are free (ten times one key's five); then the
    # address as a whole waits, doubling, while the key in use was never refused.
    assert 51 <= codes[401] <= 54 and codes[429] >= 6, codes


def test_zip_members_that_are_links_or_devices_are_refused(api_server: ApiServer) -> None:
    import stat

    for kind in (stat.S_IFLNK, stat.S_IFCHR):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("good.tif", (PAGES / "phototest.tif").read_bytes())
            member = zipfile.ZipInfo("evil.tif")
            member.external_attr = (kind | 0o777) << 16
            z.writestr(member, "/etc/passwd")
        with api_server.client() as http:
            response = http.post(
                "/api/bulk/upload", files=[("files", ("a.zip", buffer.getvalue()))]
            )
        assert response.status_code == 400 and "link or device" in response.text, response.text
