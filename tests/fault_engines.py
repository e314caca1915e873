"""Fault-injection providers (engine plugins the tests install, in conftest).

They wrap real Tesseract and misbehave only on pages of a marked width, so one job can
mix good files with a hang or a crash.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from ocr_ray.engines.tesseract import TesseractProvider
from ocr_ray.plugins import Engine, PageText

HANG_WIDTH = 777  # pages this wide hang forever
CRASH_WIDTH = 778  # pages this wide kill their worker process on the first attempt
POISON_WIDTH = 779  # pages this wide kill their worker process on every attempt
SLOW_S = 2.0  # the slow provider's least time per page
PROBE_WIDTH = 64  # the engine probe's blank page, which the slow provider lets through


class _Wrapped(Engine):
    def __init__(self, inner: Engine) -> None:
        self._inner, self.name, self.version = inner, f"{inner.name}+fault", inner.version

    def recognize(self, image: Image.Image, **options: Any) -> PageText:
        if image.width == HANG_WIDTH:
            while True:
                time.sleep(1)
        if image.width == POISON_WIDTH:
            os._exit(1)
        if image.width == CRASH_WIDTH:
            marker = (
                Path(os.environ["OCR_RAY_TEST_CRASH_DIR"])
                / hashlib.sha1(image.tobytes()).hexdigest()
            )
            if not marker.exists():
                marker.touch()
                os._exit(1)
        return self._inner.recognize(image, **options)


class FaultyProvider(TesseractProvider):
    """Tesseract that hangs or crashes on marked pages."""

    name = "faulty"

    def load(self, languages: tuple[str, ...]) -> Engine:
        return _Wrapped(super().load(languages))


class _Slow(Engine):
    def __init__(self, inner: Engine) -> None:
        self._inner, self.name, self.version = inner, f"{inner.name}+slow", inner.version

    def recognize(self, image: Image.Image, **options: Any) -> PageText:
        import ray

        if image.width <= PROBE_WIDTH:
            return self._inner.recognize(image, **options)

        # Say which node started a page, so a test can remove that node mid-page.
        folder = Path(os.environ["OCR_RAY_TEST_CRASH_DIR"]) / "slow-started"
        folder.mkdir(exist_ok=True)
        node = ray.get_runtime_context().get_node_id()
        (folder / f"{node}-{time.monotonic_ns()}").touch()
        time.sleep(SLOW_S)
        return self._inner.recognize(image, **options)


class SlowProvider(TesseractProvider):
    """Tesseract that takes at least SLOW_S per page, so a node removed mid-job surely
    has a task in flight, however fast or loaded the machine."""

    name = "slow"

    def load(self, languages: tuple[str, ...]) -> Engine:
        return _Slow(super().load(languages))
