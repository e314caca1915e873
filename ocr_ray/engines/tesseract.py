"""Tesseract: tesserocr in-process, with pytesseract as the fallback."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

from PIL import Image

from ocr_ray.exceptions import FileError
from ocr_ray.plugins import Engine, PageText, Provider, Word
from ocr_ray.settings import get_settings

# Models that are not languages one can ask for.
_NOT_LANGUAGES = {"osd", "equ"}
# Orientation guesses below this confidence are not acted on (Tesseract's OSD scale).
_MIN_ORIENTATION_CONFIDENCE = 1.5


class _TesserocrEngine(Engine):
    name = "tesseract"

    def __init__(self, tessdata: str, languages: tuple[str, ...]) -> None:
        import tesserocr

        self._tessdata = tessdata
        self._api = tesserocr.PyTessBaseAPI(path=tessdata, lang="+".join(languages))
        self._osd: Any = None
        self._top_to_bottom = tesserocr.WritingDirection.TOP_TO_BOTTOM
        self._word_level = tesserocr.RIL.WORD
        self._iterate = tesserocr.iterate_level
        self.version = tesserocr.tesseract_version().split()[1]

    def recognize(
        self, image: Image.Image, *, dpi: int | None = None, page: int = 0, hocr: bool = False
    ) -> PageText:
        self._api.SetImage(image)
        # SetImage hands Tesseract a format-less image as a 96 dpi BMP, whatever the scan's
        # resolution; 0 makes Tesseract estimate it from the size of the text instead.
        self._api.SetSourceResolution(dpi or 0)
        # Recognize() cancels cooperatively on Python signals, which is how timeouts stop it.
        self._api.Recognize()
        return PageText(
            text=self._api.GetUTF8Text(),
            confidence=float(self._api.MeanTextConf()),
            hocr=self._api.GetHOCRText(page) if hocr else None,
            words=self._words(),
            **self._layout(),
        )

    def _words(self) -> tuple[Word, ...]:
        """Every word the recognition found, with its box and confidence."""
        found = self._api.GetIterator()
        if found is None:
            return ()
        level, words = self._word_level, []
        for word in self._iterate(found, level):
            try:
                text, box = word.GetUTF8Text(level), word.BoundingBox(level)
            except RuntimeError:  # tesserocr's "No text returned": a page without words
                continue
            if text and text.strip() and box:
                words.append(Word(text.strip(), box, float(word.Confidence(level))))
        return tuple(words)

    def _layout(self) -> dict[str, Any]:
        """The first block's skew and writing direction, which layout analysis measured
        anyway (no extra cost)."""
        found = self._api.GetIterator()
        if found is None:
            return {}
        _, direction, _, skew = found.Orientation()
        return {"skew": math.degrees(skew), "vertical": direction == self._top_to_bottom}

    def orientation(self, image: Image.Image) -> int | None:
        if self._osd is None:
            import tesserocr

            if not (Path(self._tessdata) / "osd.traineddata").is_file():
                return None
            self._osd = tesserocr.PyTessBaseAPI(
                path=self._tessdata, lang="osd", psm=tesserocr.PSM.OSD_ONLY
            )
        self._osd.SetImage(image)
        found = self._osd.DetectOrientationScript()
        if not found or found.get("orient_conf", 0.0) < _MIN_ORIENTATION_CONFIDENCE:
            return None
        # orient_deg is how far the text is turned clockwise from upright, so
        # undoing it turns the page clockwise by the rest of the circle.
        return (360 - int(found["orient_deg"])) % 360


class _PytesseractEngine(Engine):
    name = "tesseract-cli"

    def __init__(self, tessdata: str, languages: tuple[str, ...]) -> None:
        import pytesseract

        self._pytesseract = pytesseract
        self._lang = "+".join(languages)  # validated names only, passed as one argv item
        self._env_tessdata = tessdata
        self.version = str(pytesseract.get_tesseract_version())

    def recognize(
        self, image: Image.Image, *, dpi: int | None = None, page: int = 0, hocr: bool = False
    ) -> PageText:
        os.environ.setdefault("TESSDATA_PREFIX", self._env_tessdata)
        config = f"--dpi {int(dpi)}" if dpi else ""  # an int we chose, never user text
        data = self._pytesseract.image_to_data(
            image, lang=self._lang, config=config, output_type=self._pytesseract.Output.DICT
        )
        text = self._pytesseract.image_to_string(image, lang=self._lang, config=config)
        confs = [float(c) for c in data["conf"] if float(c) >= 0]
        words = tuple(
            Word(word.strip(), (left, top, left + width, top + height), float(conf))
            for word, left, top, width, height, conf in zip(
                data["text"],
                data["left"],
                data["top"],
                data["width"],
                data["height"],
                data["conf"],
                strict=True,
            )
            if word.strip() and float(conf) >= 0
        )
        page_hocr = None
        if hocr:
            raw = self._pytesseract.image_to_pdf_or_hocr(
                image, lang=self._lang, config=config, extension="hocr"
            )
            page_hocr = _page_element(raw)
        return PageText(
            text=text,
            confidence=sum(confs) / len(confs) if confs else None,
            hocr=page_hocr,
            words=words,
        )


def _page_element(document: bytes) -> str:
    """The ``ocr_page`` element of an hOCR document, as ``GetHOCRText`` gives it."""
    from lxml import etree

    root = etree.fromstring(document)
    page = root.find(".//{*}div[@class='ocr_page']")
    return etree.tostring(page, encoding="unicode") if page is not None else ""


class TesseractProvider(Provider):
    """The default provider: one CPU per page, memory from the page's pixel count."""

    name = "tesseract"
    bytes_per_pixel = 12.0
    base_memory_bytes = 150 * 1024 * 1024
    gives = frozenset({"hocr"})

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
