"""Provider registry and the per-process engine cache."""

from __future__ import annotations

import functools
import importlib

from PIL import Image

from ocr_ray.engines.rapidocr import RapidOcrProvider
from ocr_ray.engines.tesseract import TesseractProvider
from ocr_ray.exceptions import EngineUnavailableError, UnknownProviderError, UsageError
from ocr_ray.plugins import Engine, PageText, Provider
from ocr_ray.settings import get_settings

__all__ = [
    "Engine",
    "PageText",
    "Provider",
    "get_engine",
    "get_provider",
    "probe_engine",
    "provider_names",
]

_BUILTIN: dict[str, type[Provider]] = {
    TesseractProvider.name: TesseractProvider,
    RapidOcrProvider.name: RapidOcrProvider,
}


def _registry() -> dict[str, type[Provider]]:
    """Built-in providers plus those the operator registered in OCR_RAY_EXTRA_PROVIDERS."""
    registry = dict(_BUILTIN)
    for item in filter(None, get_settings().extra_providers.split(",")):
        name, _, target = item.partition("=")
        module, _, attr = target.partition(":")
        registry[name.strip()] = getattr(importlib.import_module(module.strip()), attr.strip())
    return registry


def provider_names() -> list[str]:
    """Names a job may ask for."""
    return sorted(_registry())


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a usage error."""
    registry = _registry()
    if name not in registry:
        raise UnknownProviderError(
            f"unknown provider {name!r}; available: {', '.join(sorted(registry))}"
        )
    return registry[name]()


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
