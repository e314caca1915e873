"""The FastAPI app on a Ray Serve deployment: ``serve run serve.app:app``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from ray import serve
from ray.serve import Application

from ocr_ray import __version__
from ocr_ray.exceptions import StoreUnavailableError
from serve.gate import KeyGate, bounded_validation_error, store_unavailable
from serve.routes import bulk, cluster, downloads, health, retry, users, viewer
from serve.runner import API_RESOURCE
from serve.security import load_token
from serve.settings import get_serve_settings

STATIC = Path(__file__).parent / "static"

api = FastAPI(
    title="ocr_ray",
    version=__version__,
    docs_url="/docs",
    description=(
        "Distributed bulk OCR on Ray. Every /api route needs an API key as a bearer token; "
        "a user sees only their own jobs, an admin sees all."
    ),
)
api.add_middleware(KeyGate)
api.add_exception_handler(RequestValidationError, bounded_validation_error)
api.add_exception_handler(StoreUnavailableError, store_unavailable)
api.include_router(health.router)
api.include_router(bulk.router)
api.include_router(viewer.router)
api.include_router(downloads.router)
api.include_router(downloads.links)
api.include_router(retry.router)
api.include_router(cluster.router)
api.include_router(users.router)
api.mount("/static", StaticFiles(directory=STATIC), name="static")


@api.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The web page (it asks for the token and calls the API itself)."""
    return FileResponse(STATIC / "index.html")


@serve.deployment(name="ocr-ray-api", ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class OcrRayApi:
    """The API replica; refuses to start without a token."""

    def __init__(self) -> None:
        load_token(get_serve_settings())


def application(*, on_api_nodes: bool = False) -> Application:
    """The app as Serve runs it. On a cluster's API nodes each replica has one of them
    to itself, so a lost API node takes one replica with it and the others answer."""
    limits = get_serve_settings()
    options: dict[str, Any] = {
        "num_replicas": limits.api_replicas,
        "max_ongoing_requests": limits.api_max_ongoing_requests,
    }
    if on_api_nodes:
        actor = {"num_cpus": 0, "resources": {API_RESOURCE: 0.001}}
        options.update(ray_actor_options=actor, max_replicas_per_node=1)
    return OcrRayApi.options(**options).bind()


app = application()
