"""RapidOCR (ONNX runtime); its wheel ships its own detection and recognition models."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

from ocr_ray.plugins import Engine, PageText, Provider

# The bundled default models read Latin script and Simplified Chinese.
_LANGUAGES = {"eng", "chi_sim"}


class _RapidEngine(Engine):
    name = "rapidocr"

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self._ocr = RapidOCR(params={"Global.log_level": "critical"})
        self.version = metadata.version("rapidocr")

    def recognize(
        self, image: Image.Image, *, dpi: int | None = None, page: int = 0, hocr: bool = False
    ) -> PageText:
        result: Any = self._ocr(np.asarray(image.convert("RGB")))
        texts = list(getattr(result, "txts", None) or ())
        scores = [float(s) for s in (getattr(result, "scores", None) or ())]
        confidence = 100.0 * sum(scores) / len(scores) if scores else None
        return PageText(text="\n".join(texts), confidence=confidence)


class RapidOcrProvider(Provider):
    """Optional provider (``pip install ocr-ray[rapidocr]``)."""

    name = "rapidocr"
    bytes_per_pixel = 40.0
    base_memory_bytes = 400 * 1024 * 1024

    def available_languages(self) -> set[str]:
        try:
            metadata.version("rapidocr")
        except metadata.PackageNotFoundError:
            return set()
        return set(_LANGUAGES)

    def load(self, languages: tuple[str, ...]) -> Engine:
        return _RapidEngine()
