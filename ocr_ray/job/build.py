"""Building a job's parameters: every user-given value validated in one place."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ocr_ray.engines import get_provider
from ocr_ray.exceptions import UsageError
from ocr_ray.inputs.scan import check_inputs
from ocr_ray.job.export import parse_formats
from ocr_ray.models import ARCHIVE_FORMATS, JobParams
from ocr_ray.settings import get_settings


def build_params(
    paths: Sequence[str],
    *,
    languages: Sequence[str] = ("eng",),
    provider: str = "tesseract",
    recursive: bool = True,
    dpi: int | None = None,
    skip_text: bool = False,
    timeout_per_file: float | None = None,
    max_image_pixels: int | None = None,
    cache: bool = False,
    export_formats: Iterable[str] | None = None,
    output_dir: str | None = None,
    rotate: bool = True,
    deskew: bool = False,
    owner: str = "local",
    input_root: str | None = None,
    check_paths: bool = True,
) -> JobParams:
    """Validated parameters for a new job; settings fill what is not given.

    Raises ``UsageError`` (a subclass names which) for an unknown provider, language
    or export format, and, with ``check_paths``, for a missing input path. Callers
    that confine paths themselves (the API) pass ``check_paths=False``. The archive
    formats (pdf, hocr, alto) need ``output_dir`` and a provider that gives hOCR.
    With ``input_root``, no link is followed to, and no file read from, outside it.
    """
    settings = get_settings()
    chosen = get_provider(provider)
    formats = parse_formats(export_formats)
    archive = [f for f in formats if f in ARCHIVE_FORMATS]
    if archive and not output_dir:
        raise UsageError(f"{', '.join(archive)} need an output folder (--out / output_dir)")
    if archive and not chosen.gives_hocr:
        raise UsageError(f"{provider} gives no word boxes, so it cannot make {', '.join(archive)}")
    return JobParams(
        paths=check_inputs(list(paths)) if check_paths else list(paths),
        languages=chosen.validate_languages(list(languages)),
        provider=provider,
        recursive=recursive,
        dpi=dpi or settings.dpi,
        skip_text=skip_text,
        timeout_per_file_s=timeout_per_file or settings.timeout_per_file_s,
        max_image_pixels=max_image_pixels or settings.max_image_pixels,
        cache=cache,
        export_formats=list(formats),
        output_dir=os.path.abspath(output_dir) if output_dir else None,
        rotate=rotate,
        deskew=deskew,
        owner=owner,
        input_root=os.path.realpath(input_root) if input_root else None,
    )
