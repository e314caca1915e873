"""A provider that reads no text, for measuring everything around the OCR.

Registered as the engine plugin ``null`` (``tests/plugin_dist.py``), with the repository
root on ``PYTHONPATH``, so that Ray's workers import it too.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from ocr_ray.plugins import Engine, PageText, Provider


class _NullEngine(Engine):
    name, version = "null", "0"

    def recognize(self, image: Image.Image, **options: Any) -> PageText:
        return PageText(text="", confidence=None)


class NullProvider(Provider):
    """Opens and renders every page like a real engine would, then reads nothing."""

    name = "null"
    base_memory_bytes = 0
    bytes_per_pixel = 0.0

    def available_languages(self) -> set[str]:
        return {"eng"}

    def load(self, languages: tuple[str, ...]) -> Engine:
        return _NullEngine()
