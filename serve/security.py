"""The bootstrap admin key, and confining request paths to the input roots."""

from __future__ import annotations

import os
from pathlib import Path

from ocr_ray.api import within
from ocr_ray.exceptions import ConfigurationError
from serve.settings import ServeSettings


def load_token(settings: ServeSettings) -> str:
    """The bootstrap admin key: OCR_RAY_API_TOKEN or the file in OCR_RAY_API_TOKEN_FILE."""
    token = settings.api_token
    if not token and settings.api_token_file:
        token = Path(settings.api_token_file).read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise ConfigurationError(
            "the API needs a token of at least 16 characters: set OCR_RAY_API_TOKEN or "
            "OCR_RAY_API_TOKEN_FILE (a Docker secret)"
        )
    return token


def input_roots(settings: ServeSettings) -> list[Path]:
    """The configured folders jobs may read, resolved."""
    return [Path(os.path.realpath(r)) for r in settings.input_roots.split(":") if r.strip()]


def root_of(path: Path, roots: list[Path]) -> Path | None:
    """The root that the resolved ``path`` lies in, if any (the check jobs use too)."""
    return next((root for root in roots if within(str(path), str(root))), None)


def confine(path: str, roots: list[Path]) -> Path | None:
    """``path`` resolved (symlinks included) if it lies inside a root, else None.

    A relative path is taken relative to the first root. Comparing whole path
    components means ``/data-evil`` is not inside ``/data``.
    """
    if not roots or "\0" in path:
        return None
    candidate = Path(path) if os.path.isabs(path) else roots[0] / path
    real = Path(os.path.realpath(candidate))
    return real if root_of(real, roots) else None
