"""The API key checked before anything else, the request's body above all.

FastAPI reads a form or JSON body before it solves a route's dependencies, so an
upload without a key would be read in full before its 401. This ASGI middleware checks
the key of every ``/api/`` request first and hands the user to the route
(``request.state.principal``, read by ``serve.deps.current_user``); it also bounds what
a 422 echoes of the input.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ocr_ray.exceptions import StoreUnavailableError
from serve.deps import authenticate

_log = logging.getLogger(__name__)
# What a 422 quotes of a rejected value, at most.
ECHO_CHARS = 200


class KeyGate:
    """Authenticates ``/api/`` requests before their bodies are read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:  # on the loop: a key lookup is one indexed read, cheaper than a thread hop
            principal = authenticate(request)
        except HTTPException as refused:
            response = JSONResponse(
                {"detail": refused.detail}, refused.status_code, headers=refused.headers
            )
            await response(scope, receive, send)
            return
        except StoreUnavailableError as exc:
            await (await store_unavailable(request, exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A 503 that says the job store did not answer, instead of a traceback. Where the
    store is stays in the server's log: callers (before their key is checked, too)
    learn no internal address."""
    _log.warning("%s %s: %s", request.method, request.url.path, exc)
    detail = "the job store is unavailable for the moment; nothing is lost, try again shortly"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


async def bounded_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body, with each rejected input cut to an excerpt."""
    assert isinstance(exc, RequestValidationError)
    errors = [dict(error, input=_excerpt(error.get("input"))) for error in exc.errors()]
    errors = [{k: v for k, v in e.items() if k != "ctx" or _small(v)} for e in errors]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def _excerpt(value: Any) -> Any:
    text = json.dumps(value, default=str)
    if len(text) <= ECHO_CHARS:
        return value
    return text[:ECHO_CHARS] + f"... ({len(text):,} characters in all)"


def _small(value: Any) -> bool:
    return len(json.dumps(value, default=str)) <= ECHO_CHARS
