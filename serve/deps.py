"""Injected dependencies: settings, store, and the bearer-token check."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ocr_ray.settings import Settings, get_settings
from ocr_ray.store import Store, open_store
from serve.security import load_token, token_matches

_bearer = HTTPBearer(auto_error=False)


@functools.lru_cache(maxsize=1)
def _token() -> str:
    return load_token(get_settings())


@functools.lru_cache(maxsize=1)
def _store() -> Store:
    return open_store()


def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>``."""
    if credentials is None or not token_matches(credentials.credentials, _token()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(_store)]
