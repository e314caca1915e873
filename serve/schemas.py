"""Request and response bodies."""

from __future__ import annotations

from typing import Any

from fastapi import File, UploadFile
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from ocr_ray.models import ErrorInfo, FileEntry, PageResult, Progress
from ocr_ray.params import JobParams, user_options


def job_request_models(params: type[BaseModel] = JobParams) -> tuple[type[BaseModel], ...]:
    """The JSON body of ``process`` and the form of ``upload``, each with every job
    option that API callers may set, from the one declaration (``ocr_ray.params``).

    Each field is optional (absent: the declaration's default or the operator's
    setting) and keeps its bounds and help; any other field is refused with 422.
    """
    options = {
        name: (
            info.annotation | None,
            FieldInfo.merge_field_infos(
                info, default=None, default_factory=None, validation_alias=None
            ),
        )
        for name, (info, _) in user_options(params, api=True).items()
    }
    strict = ConfigDict(extra="forbid")
    process = create_model(
        "ProcessRequest",
        __config__=strict,
        __doc__="Start a job on a folder that lies under one of the input roots.",
        folder_path=(str, Field(min_length=1, max_length=4096)),
        **options,
    )
    upload = create_model(
        "UploadForm",
        __config__=strict,
        __doc__="Images, PDFs or one zip, and the job's options, as a multipart form.",
        files=(list[UploadFile], File(description="images, PDFs, or one zip")),
        **options,
    )
    return process, upload


ProcessRequest, UploadForm = job_request_models()


def job_options(request: BaseModel) -> dict[str, Any]:
    """The job options a request set (the rest keep their defaults)."""
    return request.model_dump(include=set(user_options()), exclude_none=True)


class ErrorBody(BaseModel):
    """A refusal: why, in words."""

    detail: str


class FieldError(BaseModel):
    """One field that failed its type or bounds."""

    loc: list[str | int]  # where: ("body", "dpi"), ("header", "Idempotency-Key") ...
    msg: str
    type: str
    input: Any = None  # an excerpt of the value given, at most 200 characters


class ValidationErrorBody(BaseModel):
    """A 422: fields that failed their type or bounds (a list), or a value this server
    cannot honour, such as an unknown language or a refused callback (text)."""

    detail: list[FieldError] | str


_ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorBody, "the upload holds no usable file, or is a bad archive"),
    401: (ErrorBody, "missing, wrong or revoked API key"),
    403: (ErrorBody, "not this key's to do: a folder outside the input roots, or admins only"),
    404: (ErrorBody, "no such job among the caller's (or no such folder, file or page)"),
    409: (ErrorBody, "the job's state, or an Idempotency-Key, does not allow it"),
    410: (ErrorBody, "the input file has vanished or changed since the job read it"),
    413: (ErrorBody, "the upload is larger than the server takes"),
    422: (ValidationErrorBody, "a field that is unknown, of the wrong type or out of range"),
    429: (ErrorBody, "too many running jobs, or too many wrong keys from this address"),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes, each with its body's shape."""
    return {code: {"model": _ERRORS[code][0], "description": _ERRORS[code][1]} for code in codes}


# What every authenticated route may answer, whatever it does.
AUTH_ERRORS = errors(401, 429)


class JobCreated(BaseModel):
    """The id of a job that was accepted."""

    job_id: str


class JobsPage(BaseModel):
    """A page of jobs, newest first."""

    data: list[Progress]
    count: int


class FileSummary(BaseModel):
    """One file's outcome without its text (for listings)."""

    path: str
    status: str
    pages: int
    confidence: float | None
    error: ErrorInfo | None
    warnings: list[str] = Field(default_factory=list)  # low_confidence, blank_page
    review_pages: list[int] = Field(default_factory=list)  # numbers of the pages that warn
    outputs: dict[str, str] = Field(default_factory=dict)  # format -> path in the ZIP


class WorkersInfo(BaseModel):
    """What the Ray cluster has and is doing."""

    nodes_alive: int
    worker_nodes: int
    cpus_total: float
    cpus_used: float
    pending_tasks: int | None
    jobs_running: list[str]


class FormatInfo(BaseModel):
    """An output format a job may ask for."""

    name: str
    aliases: list[str]  # other names it may be asked for by
    label: str
    kind: str  # record, bundle or document
    media_type: str
    default: bool  # made when a job names no formats


class Options(BaseModel):
    """What a job may ask for on this server."""

    providers: dict[str, list[str]]
    handwriting: list[str]  # providers that read handwriting (``handwriting: true``)
    input_roots: list[str]
    folders: list[str]
    formats: list[FormatInfo]
    export_formats: list[str]  # what a job makes when it names none
    archive_formats: list[str]  # documents the workers can make too
    viewer_max_width: int  # the widest page image the viewer's image route renders


class Me(BaseModel):
    """Who the key belongs to."""

    user: str
    admin: bool


class KeyInfo(BaseModel):
    """An API key's owner and state (never the key or its hash)."""

    name: str
    admin: bool
    created_at: float
    revoked_at: float | None


class AuditRecord(BaseModel):
    """One entry of the audit trail."""

    at: float  # Unix time
    user: str
    action: str  # submit, cancel, download, key_create, key_revoke
    job_id: str | None
    detail: str
    client: str | None


class FilesPage(BaseModel):
    """A page of a job's files, in the order they were found; ``next_cursor`` asks for
    the next page (None: this is the last)."""

    data: list[FileEntry]
    next_cursor: int | None = None


class FileDetail(BaseModel):
    """One file for the viewer: its outcome, and each page's text and how it was read."""

    file: FileEntry
    pages: list[PageResult]
    low_confidence: float  # a word or page below this confidence (0-100) is doubtful


class WordBox(BaseModel):
    """A recognised word and its box: left, top, right, bottom in the image's pixels."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float


class PageWords(BaseModel):
    """A page's words, their boxes in the pixels of the page image at the width asked
    (``width`` x ``height``); no words for a page the engine did not read."""

    width: int | None
    height: int | None
    low_confidence: float
    words: list[WordBox]


class DownloadLink(BaseModel):
    """A link the browser can download from by itself (no key), for a short while."""

    url: str
    expires_at: float  # Unix time
