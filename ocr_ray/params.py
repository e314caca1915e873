"""Every job parameter, declared once.

``JobParams`` is what a job was asked to do. Each field a user may set carries an
``Option`` beside its type, default, bounds and help text, and everything else is made
from these declarations: the CLI's options, ``submit()``'s keywords, the API's request
models (JSON and upload form), the per-task options and the cache key. A new
parameter is one field here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic.fields import FieldInfo

from ocr_ray.formats import default_formats
from ocr_ray.models import TextLayerMode
from ocr_ray.plugins import registry
from ocr_ray.settings import Dpi, Pixels, Seconds, get_settings

MAX_LANGUAGES = 16
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,31}$")
# Engines name Chinese by script, not by the ISO 639-3 macrolanguage (zho).
_SCRIPT_DEFAULTS = {"zh": "chi_sim"}
T = TypeVar("T")


@dataclass(frozen=True)
class Option:
    """Marks a parameter that users set, and how; the others are ocr_ray's to set."""

    changes_text: bool = False  # in the cache key: another value may read other text
    flag: str | None = None  # the CLI's flag, where it is not --<name-with-dashes>
    api: bool = True  # False: an operator's limit, which API callers may not change
    cli: bool = True  # False: about the API's deployment (its swarm), so only the API takes it
    plugins: str | None = None  # the registry group its values come from (help lists them)


@dataclass(frozen=True)
class FromSetting:
    """A default read from the operator's setting ``name`` when a job is made."""

    name: str

    def __call__(self) -> Any:
        return getattr(get_settings(), self.name)

    def __str__(self) -> str:
        return f"{self()}, from OCR_RAY_{self.name.upper()}"


class JobParams(BaseModel):
    """What a job was asked to do; stored so that a resume repeats it exactly."""

    paths: list[str]
    languages: Annotated[list[str], Option(changes_text=True, flag="--lang")] = Field(
        ["eng"],
        description="languages: engine names or ISO 639-1 codes, joined by + or , (en+de)",
    )
    provider: Annotated[str, Option(changes_text=True, plugins=registry.ENGINES)] = Field(
        "tesseract", max_length=64, description="OCR engine"
    )
    recursive: Annotated[bool, Option()] = Field(True, description="read sub-folders too")
    dpi: Annotated[Dpi, Option(changes_text=True)] = Field(
        default_factory=FromSetting("dpi"),
        description="resolution PDF pages are rendered at",
    )
    text_layer: Annotated[TextLayerMode, Option(changes_text=True)] = Field(
        "auto",
        validation_alias=AliasChoices("text_layer", "skip_text"),
        description="a PDF page's own text: auto (used where it is real, an earlier poor "
        "OCR layer read again), use (wherever there is one), ocr (every page read)",
    )
    timeout_per_file_s: Annotated[Seconds, Option(flag="--timeout-per-file", api=False)] = Field(
        default_factory=FromSetting("timeout_per_file_s"),
        validation_alias=AliasChoices("timeout_per_file_s", "timeout_per_file"),
        description="seconds per file or page range",
    )
    max_image_pixels: Annotated[Pixels, Option(flag="--max-pixels", api=False)] = Field(
        default_factory=FromSetting("max_image_pixels"),
        description="refuse pages with more pixels",
    )
    cache: Annotated[bool, Option()] = Field(
        False, description="reuse results of identical files from earlier jobs"
    )
    export_formats: Annotated[
        list[Annotated[str, Field(max_length=64)]],
        Option(flag="--formats", plugins=registry.FORMATS),
    ] = Field(
        default_factory=default_formats,
        max_length=64,
        validation_alias=AliasChoices("export_formats", "formats"),
        description="output formats, a comma list; document formats (pdf, hocr, alto, "
        "txt-files) go under OUT/<format>/ (txt-files: OUT/text/), mirroring the inputs "
        "(default: the record formats and zip)",
    )
    rotate: Annotated[bool, Option(changes_text=True)] = Field(
        True, description="check the orientation of pages that read badly, and turn them"
    )
    deskew: Annotated[bool, Option(changes_text=True)] = Field(
        False, description="level pages tilted by more than 0.5 degrees and read them again"
    )
    handwriting: Annotated[bool, Option(changes_text=True)] = Field(
        False, description="the pages are handwritten: refused unless the provider reads it"
    )
    auto_scale: Annotated[bool | None, Option(cli=False)] = Field(
        None,
        description="scale the swarm's workers to this job's size where the deployment does "
        "(default: the deployment's OCR_RAY_AUTOSCALE)",
    )
    use_swarm: Annotated[bool | None, Option(cli=False)] = Field(
        None,
        description="true: refused unless the API runs on a swarm; false: use the workers "
        "already up and ask for none",
    )
    callback_url: Annotated[str | None, Option(cli=False)] = Field(
        None,
        min_length=1,
        max_length=2048,
        description="POST the job's signed summary here when it ends; its host must be on "
        "the operator's OCR_RAY_CALLBACK_HOSTS",
    )
    output_dir: str | None = None  # where the workers' document formats go
    owner: str = "local"  # "api": run by the detached job runner, which resumes it
    input_root: str | None = None  # API jobs: nothing outside it is read, links included
    retry_of: str | None = None  # the job whose failed or unread files this one reads again

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> list[str]:
        return parse_languages(value)

    @field_validator("text_layer", mode="before")
    @classmethod
    def _skip_text(cls, value: Any) -> Any:
        # skip_text, the older name: true used any layer, false read every page.
        return ("use" if value else "ocr") if isinstance(value, bool) else value

    @field_validator("export_formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value)
        return [p.strip() for item in items for p in str(item).split(",") if p.strip()]

    def option_values(self) -> dict[str, Any]:
        """Every user option as this job has it, by name."""
        return self.model_dump(include=set(user_options()))

    def cache_key(self, sha256: str, version: str) -> str:
        """The key of a result for content ``sha256``: every parameter that changes the
        text read is in it, so a new one cannot be missed."""
        changing = {
            name: getattr(self, name)
            for name, (_, option) in user_options(type(self)).items()
            if option.changes_text
        }
        raw = json.dumps([sha256, version, changing], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()


def user_options(
    model: type[BaseModel] = JobParams, *, api: bool | None = None
) -> dict[str, tuple[FieldInfo, Option]]:
    """The parameters users set, by field name, with their declarations; with ``api``,
    only those the API (True) or the CLI and ``submit()`` (False) take."""
    found = _user_options(model)
    if api is None:
        return found
    return {
        name: (info, option)
        for name, (info, option) in found.items()
        if (option.api if api else option.cli)
    }


@functools.cache
def _user_options(model: type[BaseModel]) -> dict[str, tuple[FieldInfo, Option]]:
    found = {}
    for name, info in model.model_fields.items():
        option = next((m for m in info.metadata if isinstance(m, Option)), None)
        if option is not None:
            found[name] = (info, option)
    return found


def names_of(name: str, info: FieldInfo) -> list[str]:
    """The keywords a parameter is given by: its name, then its older names."""
    aliases = info.validation_alias
    choices = aliases.choices if isinstance(aliases, AliasChoices) else []
    return list(dict.fromkeys([name, *(c for c in choices if isinstance(c, str))]))


def pick(cls: type[T], params: BaseModel, **given: Any) -> T:
    """A ``cls`` dataclass whose fields are taken from ``params`` by name (lists as
    tuples), except those ``given``: per-task options derive from the one declaration."""
    values = dict(given)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in values and field.name in type(params).model_fields:
            value = getattr(params, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def parse_languages(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """Languages in engine form (``en`` -> ``eng``), in order, without repeats, from a
    list or a string joined by ``+`` or ``,``; ``ValueError`` for a bad name or count.

    The one place language names are split, checked and capped.
    """
    items = [value] if isinstance(value, str) else list(value)
    parts = [p.strip() for item in items for p in re.split(r"[+,]", str(item)) if p.strip()]
    if not parts:
        raise ValueError("at least one language is required")
    if len(parts) > MAX_LANGUAGES:
        raise ValueError(f"at most {MAX_LANGUAGES} languages, not {len(parts)}")
    bad = [p for p in parts if not LANGUAGE_PATTERN.match(p)]
    if bad:
        # Bounded: a hostile name is not echoed whole.
        raise ValueError(f"invalid language name(s): {', '.join(repr(b[:40]) for b in bad)}")
    return list(dict.fromkeys(engine_name(p) for p in parts))


@functools.lru_cache(maxsize=256)
def engine_name(code: str) -> str:
    """The three-letter (ISO 639-2/T, as Tesseract names models) form of a two-letter code.

    Anything that is not a known two-letter code is returned unchanged, so engine names
    such as ``eng`` or ``chi_sim`` pass through and unknown codes fail validation later.
    """
    if len(code) != 2 or not code.isalpha():
        return code
    lowered = code.lower()
    if lowered in _SCRIPT_DEFAULTS:
        return _SCRIPT_DEFAULTS[lowered]
    import pycountry

    language = pycountry.languages.get(alpha_2=lowered)
    return str(language.alpha_3) if language is not None else code
