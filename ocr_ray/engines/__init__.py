"""Engines: providers found in the registry, and the per-process engine cache.

Each built-in engine is one module here (``tesseract``, ``rapidocr``), registered as an
entry point like any other engine plugin.
"""

from __future__ import annotations

import functools

from PIL import Image

from ocr_ray.exceptions import (
    EngineUnavailableError,
    OcrRayError,
    UnknownProviderError,
    UsageError,
)
from ocr_ray.plugins import Engine, Provider, registry

__all__ = [
    "get_engine",
    "get_provider",
    "handwriting_providers",
    "probe_engine",
    "provider_names",
]


def provider_names() -> list[str]:
    """Names a job may ask for."""
    return sorted(registry.entries(registry.ENGINES))


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a usage error."""
    try:
        provider: type[Provider] = registry.load(registry.ENGINES, name)
    except KeyError:
        raise UnknownProviderError(
            f"unknown provider {name!r}; available: {', '.join(provider_names())}"
        ) from None
    return provider()


def handwriting_providers() -> list[str]:
    """Installed providers that say they read handwriting (none built in does)."""
    found = []
    for name in provider_names():
        try:
            if get_provider(name).reads_handwriting:
                found.append(name)
        except OcrRayError:  # a broken plugin reads nothing; asking for it says why
            continue
    return found


@functools.lru_cache(maxsize=4)
def get_engine(provider: str, languages: tuple[str, ...]) -> Engine:
    """A loaded engine, created once per worker process and reused for every page."""
    return get_provider(provider).load(languages)


def probe_engine(provider: str, languages: tuple[str, ...]) -> None:
    """Load the engine and read a blank page, as OCRmyPDF checks its tools before work.

    A missing or broken engine is then one ``EngineUnavailableError`` (a usage error)
    instead of every file failing. The engine stays loaded for the pages that follow.
    """
    try:
        get_engine(provider, languages).recognize(Image.new("L", (64, 32), 255), dpi=300)
    except UsageError:
        raise
    except Exception as exc:  # whatever the engine raises, the job cannot run
        raise EngineUnavailableError(
            f"the {provider} engine cannot run here ({'+'.join(languages)}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
