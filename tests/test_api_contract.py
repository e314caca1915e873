"""The API keeps its word, over real HTTP: the original client's fields honoured or
refused by name, idempotent submits, signed completion webhooks to allowlisted hosts
only, and an OpenAPI schema that lists every route's errors."""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import PAGES, ApiServer, wait_done
from tests.test_users import one_page_folder

pytestmark = pytest.mark.slow

# The request the original gvpocr client sends, field for field.
ORIGINAL_CLIENT = {
    "provider": "tesseract",
    "languages": ["en"],
    "handwriting": False,
    "use_swarm": False,
    "auto_scale": False,
    "export_formats": ["json", "csv", "text"],
}


def refusal(response: httpx.Response) -> str:
    """A 422's body as one text, whichever shape it has (fields, or a sentence)."""
    assert response.status_code == 422, response.text
    return json.dumps(response.json()["detail"])


def test_the_original_clients_fields_are_honoured_or_refused_by_name(
    api_server: ApiServer,
) -> None:
    folder = one_page_folder(api_server, "original")
    request = {"folder_path": folder, **ORIGINAL_CLIENT}
    with api_server.client() as http:
        refused = {
            "handwriting": {"handwriting": True},  # tesseract does not read it
            "use_swarm": {"use_swarm": True},  # this server is not on a swarm
            "auto_scale": {"auto_scale": True},  # nor does it scale workers
            "priority": {"priority": "high"},  # no such field
            "dpi": {"dpi": "high"},  # wrong type
            "rotate": {"rotate": "sideways"},
        }
        for field, change in refused.items():
            body = refusal(http.post("/api/bulk/process", json={**request, **change}))
            assert field in body, (field, body)
        handwriting = refusal(http.post("/api/bulk/process", json={**request, "handwriting": True}))
        assert "scribe" in handwriting  # the providers that do read it are named
        started = http.post("/api/bulk/process", json=request)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 1
        text = http.get(f"/api/bulk/results/{job_id}", params={"format": "text"})
        assert text.status_code == 200 and "original/page.tif =====" in text.text
        assert "lazy fox" in text.text
        with zipfile.ZipFile(io.BytesIO(http.get(f"/api/bulk/results/{job_id}").content)) as z:
            assert {"results.json", "results.csv", "results.txt"} <= set(z.namelist())
        scribe = http.post(
            "/api/bulk/process", json={**request, "provider": "scribe", "handwriting": True}
        )
        assert scribe.status_code == 202, scribe.text
        assert wait_done(http, scribe.json()["job_id"])["succeeded"] == 1
        options = http.get("/api/bulk/options").json()
        assert options["handwriting"] == ["scribe"]
        assert next(f for f in options["formats"] if f["name"] == "txt")["aliases"] == ["text"]


def test_the_upload_takes_the_same_fields_and_refuses_unknown_ones(api_server: ApiServer) -> None:
    page = (PAGES / "phototest.tif").read_bytes()
    with api_server.client() as http:
        form = {"deskew": "true", "recursive": "false", "export_formats": "json,text"}
        files = [("files", ("page.tif", page, "image/tiff"))]
        started = http.post("/api/bulk/upload", data=form, files=files)
        assert started.status_code == 202, started.text
        assert wait_done(http, started.json()["job_id"])["succeeded"] == 1
        assert "use_swarm" in refusal(
            http.post("/api/bulk/upload", data={"use_swarm": "true"}, files=files)
        )
        assert "colour" in refusal(
            http.post("/api/bulk/upload", data={"colour": "true"}, files=files)
        )


def test_a_retried_submit_gets_the_first_job_and_starts_nothing(api_server: ApiServer) -> None:
    folder = one_page_folder(api_server, "retried")
    erin, frank = api_server.create_key("retry-erin"), api_server.create_key("retry-frank")
    request = {"folder_path": folder, "languages": ["en"]}
    key = {"Idempotency-Key": "order-4711"}
    with api_server.client(erin) as http, api_server.client(frank) as other:
        with ThreadPoolExecutor(6) as pool:  # retries that arrive while the first is at work
            post = functools.partial(http.post, "/api/bulk/process", json=request, headers=key)
            posts = [pool.submit(post) for _ in range(6)]
            answers = [post.result() for post in posts]
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 5 + [202], [a.text for a in answers]
        job_ids = {a.json()["job_id"] for a in answers}
        assert len(job_ids) == 1 and http.get("/api/bulk/jobs").json()["count"] == 1
        (job_id,) = job_ids
        again = http.post("/api/bulk/process", json=request, headers=key)
        assert (again.status_code, again.json()["job_id"]) == (200, job_id)
        changed = http.post("/api/bulk/process", json={**request, "deskew": True}, headers=key)
        assert changed.status_code == 409 and "different request" in changed.json()["detail"]
        theirs = other.post("/api/bulk/process", json=request, headers=key)
        assert theirs.status_code == 202 and theirs.json()["job_id"] != job_id
        bad = http.post("/api/bulk/process", json=request, headers={"Idempotency-Key": "a b"})
        assert "Idempotency-Key" in refusal(bad)
        page = (PAGES / "phototest.tif").read_bytes()
        uploads = [
            http.post(
                "/api/bulk/upload",
                files=[("files", ("p.tif", content, "image/tiff"))],
                headers={"Idempotency-Key": "upload-1"},
            )
            for content in (page, page, page + b"\0")
        ]
        assert [u.status_code for u in uploads] == [202, 200, 409]
        assert uploads[0].json()["job_id"] == uploads[1].json()["job_id"]
        for job in (job_id, theirs.json()["job_id"], uploads[0].json()["job_id"]):
            client = other if job == theirs.json()["job_id"] else http
            assert wait_done(client, job)["status"] == "completed"
        assert http.get("/api/bulk/jobs").json()["count"] == 2  # erin: one folder, one upload


class _Receiver:
    """A webhook receiver on loopback that answers with the codes it is given, in turn
    (then 200), and keeps every request."""

    def __init__(self, port: int, answers: list[int], location: str = "") -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests
        queue = list(answers)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(queue.pop(0) if queue else 200)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(api_server: ApiServer) -> Iterator[list[_Receiver]]:
    """An accepting receiver, one that fails twice first, and one that redirects."""
    first, second, third = api_server.callback_ports
    made = [
        _Receiver(first, []),
        _Receiver(second, [500, 503]),
        _Receiver(third, [302] * 50, location=f"http://127.0.0.1:{first}/stolen"),
    ]
    yield made
    for receiver in made:
        receiver.close()


def _callback_of(http: httpx.Client, job_id: str) -> dict:
    """The job's callback state once it is no longer pending."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        callback = http.get(f"/api/bulk/progress/{job_id}").json()["callback"]
        if callback["outcome"] != "pending":
            return callback
        time.sleep(0.2)
    raise AssertionError(f"the callback of {job_id} is still pending")


def test_completion_webhooks_are_signed_retried_and_never_redirected(
    api_server: ApiServer, receivers: list[_Receiver]
) -> None:
    folder = one_page_folder(api_server, "hooked")
    key, secret = api_server.create_user("hook-gina")
    ports = api_server.callback_ports
    with api_server.client(key) as http:
        jobs = []
        for port in ports:
            url = f"http://127.0.0.1:{port}/hook?from=ocr"
            started = http.post(
                "/api/bulk/process",
                json={"folder_path": folder, "provider": "null", "callback_url": url},
            )
            assert started.status_code == 202, started.text
            jobs.append(started.json()["job_id"])
        outcomes = [_callback_of(http, job) for job in jobs]
    signed, retried, redirected = outcomes
    assert signed["outcome"] == "delivered" and len(signed["attempts"]) == 1
    headers, body = receivers[0].requests[0]
    timestamp, mac = (part.split("=", 1)[1] for part in headers["X-OcrRay-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    assert abs(time.time() - int(timestamp)) < 120
    payload = json.loads(body)
    assert payload["event"] == "job.completed" and payload["job_id"] == jobs[0]
    assert payload["summary"]["total_files"] == 1
    assert [a["status_code"] for a in retried["attempts"]] == [500, 503, 200]
    assert retried["outcome"] == "delivered" and len(receivers[1].requests) == 3
    # The redirect is an answer that was not taken: never followed, retried until the
    # retry time (3 s here) ran out.
    assert redirected["outcome"] == "gave_up" and len(redirected["attempts"]) >= 3
    assert {a["error"] for a in redirected["attempts"]} == {"redirect not followed"}
    assert [path for path in receivers[0].requests if b"stolen" in path[1]] == []
    assert len(receivers[0].requests) == 1  # nothing came to where the redirect pointed
    status = json.loads(api_server.cli("status", jobs[1], "--json").stdout)
    assert status["callback"]["outcome"] == "delivered"
    assert status["callback"]["attempts"][-1]["status_code"] == 200


def test_a_cancelled_job_calls_back_too(api_server: ApiServer, receivers: list[_Receiver]) -> None:
    folder = one_page_folder(api_server, "hooked-cancel")
    key, _ = api_server.create_user("hook-ivy")
    url = f"http://127.0.0.1:{api_server.callback_ports[0]}/hook"
    with api_server.client(key) as http:
        started = http.post(
            "/api/bulk/process",
            json={"folder_path": folder, "provider": "slow", "callback_url": url},
        )
        job_id = started.json()["job_id"]
        assert http.post(f"/api/bulk/jobs/{job_id}/cancel").status_code == 200
        assert _callback_of(http, job_id)["outcome"] == "delivered"
    ((_, body),) = receivers[0].requests
    assert json.loads(body)["event"] == "job.cancelled"


def test_callbacks_to_hosts_off_the_allowlist_are_refused_at_submit(
    api_server: ApiServer,
) -> None:
    folder = one_page_folder(api_server, "refused-hooks")
    key, _ = api_server.create_user("hook-hank")
    listed = api_server.callback_ports[0]
    refused = {
        "http://10.0.0.7/hook": "not on this server's allowlist",  # a private address
        "http://169.254.169.254/latest/meta-data": "not on this server's allowlist",
        f"http://127.0.0.1:{listed + 1}/hook": "not on this server's allowlist",  # other port
        # "localhost" is listed, but it resolves to loopback, which is listed only on
        # the test ports: a name cannot bring in an address the operator did not list.
        "http://localhost/hook": "an internal address that is not on",
        f"ftp://127.0.0.1:{listed}/hook": "http or https",
        f"http://user:pw@127.0.0.1:{listed}/hook": "user name or password",
    }
    with api_server.client(key) as http:
        before = http.get("/api/bulk/jobs").json()["count"]
        for url, reason in refused.items():
            body = refusal(
                http.post("/api/bulk/process", json={"folder_path": folder, "callback_url": url})
            )
            assert "callback_url" in body and reason in body, (url, body)
        assert http.get("/api/bulk/jobs").json()["count"] == before  # nothing started
    with api_server.client() as admin:  # the bootstrap key has no secret to sign with
        body = refusal(
            admin.post(
                "/api/bulk/process",
                json={"folder_path": folder, "callback_url": f"http://127.0.0.1:{listed}/"},
            )
        )
        assert "bootstrap key" in body


# What each route may answer besides success: what the routes raise, and on every
# authenticated route a missing key (401) and a lockout or the running-job limit (429).
ROUTE_ERRORS = {
    ("POST", "/api/bulk/process"): {401, 403, 404, 409, 422, 429},
    ("POST", "/api/bulk/upload"): {400, 401, 409, 413, 422, 429},
    ("GET", "/api/bulk/progress/{job_id}"): {401, 404, 422, 429},
    ("GET", "/api/bulk/jobs"): {401, 403, 422, 429},
    ("POST", "/api/bulk/jobs/{job_id}/cancel"): {401, 404, 409, 422, 429},
    ("GET", "/api/bulk/files/{job_id}"): {401, 404, 422, 429},
    ("GET", "/api/bulk/results/{job_id}"): {401, 404, 409, 422, 429},
    ("GET", "/api/bulk/options"): {401, 429},
    ("GET", "/api/bulk/jobs/{job_id}/files"): {401, 404, 422, 429},
    ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}"): {401, 404, 422, 429},
    ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}/pages/{n}/image"): {
        401,
        403,
        404,
        410,
        422,
        429,
    },
    ("GET", "/api/bulk/jobs/{job_id}/files/{file_id}/pages/{n}/words"): {401, 404, 422, 429},
    ("POST", "/api/bulk/jobs/{job_id}/download-link"): {401, 404, 409, 422, 429},
    ("POST", "/api/bulk/jobs/{job_id}/retry"): {401, 404, 409, 422, 429},
    ("POST", "/api/bulk/jobs/{job_id}/resume"): {401, 404, 409, 422, 429},
    ("GET", "/api/cluster/workers"): {401, 429},
    ("GET", "/api/me"): {401, 429},
    ("GET", "/api/admin/keys"): {401, 403, 429},
    ("GET", "/api/admin/audit"): {401, 403, 422, 429},
}


def test_the_openapi_schema_lists_every_routes_errors_and_forbids_extra_fields(
    api_server: ApiServer,
) -> None:
    spec = httpx.get(f"{api_server.url}/openapi.json").json()
    declared = {
        (method.upper(), path): operation
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api")
    }
    assert set(declared) == set(ROUTE_ERRORS)
    for route, operation in declared.items():
        codes = {int(code) for code in operation["responses"] if int(code) >= 400}
        assert codes == ROUTE_ERRORS[route], route
        for code in codes:
            schema = operation["responses"][str(code)]["content"]["application/json"]["schema"]
            body = "ValidationErrorBody" if code == 422 else "ErrorBody"
            assert schema == {"$ref": f"#/components/schemas/{body}"}, (route, code)
    models = spec["components"]["schemas"]
    for name in ("ProcessRequest", "UploadForm"):
        assert models[name]["additionalProperties"] is False, name
    assert {"handwriting", "use_swarm", "auto_scale", "callback_url"} <= set(
        models["ProcessRequest"]["properties"]
    )
    # The shapes are the real ones: a refusal of each kind parses as declared.
    with api_server.client() as http:
        assert set(http.get("/api/bulk/progress/nope").json()) == {"detail"}
        fields = http.post("/api/bulk/process", json={"folder_path": "x", "dpi": "high"})
        assert set(fields.json()["detail"][0]) >= {"loc", "msg", "type"}
        words = http.post("/api/bulk/process", json={"folder_path": "samples", "languages": ["xx"]})
        assert words.status_code == 422 and isinstance(words.json()["detail"], str)
