"""Tesseract: tesserocr in-process, with pytesseract as the fallback."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from PIL import Image

from ocr_ray._engines.base import Engine, PageText, Provider
from ocr_ray.exceptions import FileError
from ocr_ray.settings import get_settings

# Models that are not languages one can ask for.
_NOT_LANGUAGES = {"osd", "equ"}


class _TesserocrEngine(Engine):
    name = "tesseract"

    def __init__(self, tessdata: str, languages: tuple[str, ...]) -> None:
        import tesserocr

        self._api = tesserocr.PyTessBaseAPI(path=tessdata, lang="+".join(languages))
        self.version = tesserocr.tesseract_version().split()[1]

    def recognize(self, image: Image.Image) -> PageText:
        self._api.SetImage(image)
        # Recognize() cancels cooperatively on Python signals, which is how timeouts stop it.
        self._api.Recognize()
        text = self._api.GetUTF8Text()
        return PageText(text=text, confidence=float(self._api.MeanTextConf()))


class _PytesseractEngine(Engine):
    name = "tesseract-cli"

    def __init__(self, tessdata: str, languages: tuple[str, ...]) -> None:
        import pytesseract

        self._pytesseract = pytesseract
        self._lang = "+".join(languages)  # validated names only, passed as one argv item
        self._env_tessdata = tessdata
        self.version = str(pytesseract.get_tesseract_version())

    def recognize(self, image: Image.Image) -> PageText:
        os.environ.setdefault("TESSDATA_PREFIX", self._env_tessdata)
        data = self._pytesseract.image_to_data(
            image, lang=self._lang, output_type=self._pytesseract.Output.DICT
        )
        text = self._pytesseract.image_to_string(image, lang=self._lang)
        confs = [float(c) for c in data["conf"] if float(c) >= 0]
        return PageText(text=text, confidence=sum(confs) / len(confs) if confs else None)


class TesseractProvider(Provider):
    """The default provider: one CPU per page, memory from the page's pixel count."""

    name = "tesseract"
    bytes_per_pixel = 12.0
    base_memory_bytes = 150 * 1024 * 1024

    def __init__(self, tessdata: str | None = None) -> None:
        self.tessdata = tessdata or get_settings().resolved_tessdata

    def available_languages(self) -> set[str]:
        return _installed_models(self.tessdata) - _NOT_LANGUAGES

    def load(self, languages: tuple[str, ...]) -> Engine:
        try:
            return _TesserocrEngine(self.tessdata, languages)
        except ImportError:
            return _PytesseractEngine(self.tessdata, languages)
        except RuntimeError as exc:
            raise FileError(f"tesseract could not load {languages}: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _installed_models(tessdata: str) -> set[str]:
    folder = Path(tessdata)
    if not folder.is_dir():
        return set()
    return {p.name.removesuffix(".traineddata") for p in folder.glob("*.traineddata")}
