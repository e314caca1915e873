"""Building a job's parameters: every user-given value validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ocr_ray.engines import get_provider, handwriting_providers
from ocr_ray.exceptions import UsageError
from ocr_ray.formats import of_kind, parse_formats
from ocr_ray.inputs.scan import check_inputs
from ocr_ray.params import JobParams, names_of, user_options
from ocr_ray.plugins import DocumentFormat

# A rejected value is quoted up to this many characters, never whole.
_QUOTED = 80


class InvalidOptionError(UsageError):
    """A job option that is unknown, of the wrong type or out of range."""


def build_params(
    paths: Sequence[str],
    options: Mapping[str, Any],
    *,
    output_dir: str | None = None,
    owner: str = "local",
    input_root: str | None = None,
    check_paths: bool = True,
    api: bool = False,
) -> JobParams:
    """Validated parameters for a new job from the user's ``options`` (any name of
    ``ocr_ray.params.user_options``; None or absent: the default).

    Raises ``UsageError`` (a subclass names which) for an unknown option, a bad value,
    an unknown provider, language or format, and, with ``check_paths``, a missing input
    path. Callers that confine paths themselves (the API) pass ``check_paths=False``.
    Document formats need ``output_dir`` and a provider that gives what they need.
    With ``input_root``, no link is followed to, and no file read from, outside it.
    """
    given = {name: value for name, value in options.items() if value is not None}
    _refuse_unknown(given, api=api)
    try:
        params = JobParams.model_validate(
            {
                **given,
                "paths": check_inputs(list(paths)) if check_paths else list(paths),
                "output_dir": os.path.abspath(output_dir) if output_dir else None,
                "owner": owner,
                "input_root": os.path.realpath(input_root) if input_root else None,
            }
        )
    except ValidationError as exc:
        raise InvalidOptionError(describe(exc)) from exc
    return _checked(params)


def _refuse_unknown(given: Mapping[str, Any], *, api: bool) -> None:
    known = {
        alias for name, (info, _) in user_options(api=api).items() for alias in names_of(name, info)
    }
    unknown = sorted(set(given) - known)
    if unknown:
        shown = ", ".join(repr(name[:_QUOTED]) for name in unknown)
        raise InvalidOptionError(f"unknown option(s) {shown}; known: {', '.join(sorted(known))}")


def _checked(params: JobParams) -> JobParams:
    """What the declaration cannot check alone: the installed engine, its languages,
    and the formats it can make."""
    provider = get_provider(params.provider)
    if params.handwriting and not provider.reads_handwriting:
        raise UsageError(
            f"handwriting: {params.provider} does not read handwriting; providers that do: "
            f"{', '.join(handwriting_providers()) or 'none installed'}"
        )
    params.languages = provider.validate_languages(params.languages)
    params.export_formats = list(parse_formats(params.export_formats))
    documents = of_kind(params.export_formats, DocumentFormat)
    names = ", ".join(f.name for f in documents)
    if documents and not params.output_dir:
        raise UsageError(f"{names} need an output folder (--out / out_dir)")
    lacking = {f.name: f.needs - provider.gives for f in documents if f.needs - provider.gives}
    if lacking:
        missing = ", ".join(sorted(set().union(*lacking.values())))
        raise UsageError(
            f"{params.provider} gives no {missing}, so it cannot make {', '.join(lacking)}"
        )
    return params


def describe(exc: ValidationError) -> str:
    """A validation error as one line per field, each naming the field, with a bounded
    excerpt of the value."""
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "options"
        value = repr(error.get("input"))
        excerpt = value if len(value) <= _QUOTED else value[:_QUOTED] + "..."
        lines.append(f"{field}: {error['msg']} (got {excerpt})")
    return "; ".join(lines)
