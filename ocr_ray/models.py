"""The records a job produces: per page, per file, and for the whole job."""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator


class FileStatus(str, Enum):
    """Final state of one input file."""

    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class PageWarning(str, Enum):
    """Why a page that was read still needs a person's look (the file stays succeeded)."""

    low_confidence = "low_confidence"
    blank_page = "blank_page"


# How a job treats a PDF page's own text (the ``text_layer`` parameter; inputs.routing).
TextLayerMode = Literal["auto", "use", "ocr"]


class PageSource(str, Enum):
    """Which path a page's text came by (``inputs.routing`` decides)."""

    ocr = "ocr"  # the engine read it
    text_layer = "text_layer"  # the PDF page's own text layer
    blank = "blank"  # nothing on it to read, known before the engine ran


class JobStatus(str, Enum):
    """Lifecycle of a job."""

    queued = "queued"
    running = "running"
    completed = "completed"
    cancelling = "cancelling"
    cancelled = "cancelled"
    interrupted = "interrupted"
    failed = "failed"

    @property
    def active(self) -> bool:
        """Whether a coordinator is working on the job (and renewing its lease)."""
        return self in (JobStatus.running, JobStatus.cancelling)

    @property
    def finished(self) -> bool:
        """Whether the job will make no more progress without a resume."""
        return self in (JobStatus.completed, JobStatus.cancelled, JobStatus.failed)


def printable(text: str) -> str:
    """``text`` as valid Unicode: the bytes of a file name that is not UTF-8 (which
    ``os`` gives as surrogate escapes) shown as ``\\xNN``, so JSON, CSV, the web page and
    ZIP names can carry it. Valid text is returned as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ErrorInfo(BaseModel):
    """Why a file failed or was skipped."""

    code: str
    message: str

    @field_validator("message")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable(value)


class PageResult(BaseModel):
    """Text of one page."""

    number: int  # 1-based
    text: str
    confidence: float | None = None  # mean word confidence, 0-100
    source: PageSource = PageSource.ocr
    reason: str | None = None  # why the page took that path
    rotation: int = 0  # degrees the page was turned clockwise before it was read
    deskew: float = 0.0  # degrees it was then turned counter-clockwise to level its lines
    dpi: int | None = None  # resolution the page was read at; None: the engine estimated it
    warnings: list[PageWarning] = Field(default_factory=list)
    # The engine's words with their boxes (``ocr_ray.wordboxes``), on their way from
    # the worker to the store, which keeps them apart from the record: never exported.
    words: bytes | None = Field(default=None, exclude=True, repr=False)

    @field_validator("source", mode="before")
    @classmethod
    def _older_name(cls, value: Any) -> Any:
        # "text-layer": records written before the routing by page.
        return PageSource.text_layer if value == "text-layer" else value


class OutputCheck(BaseModel):
    """What a validating format (PDF/A) found of the document it wrote for a file.

    A document that did not pass was written all the same, as its plain variant (a
    searchable PDF that is not PDF/A); ``findings`` say why it could not be made valid.
    """

    standard: str  # "PDF/A-2b"
    passed: bool
    findings: list[str] = Field(default_factory=list)


class FileRecord(BaseModel):
    """Everything known about one input file; one per file per job.

    Any name a filesystem allows is kept: ``path`` is always printable (see
    ``printable``), and a name that is not UTF-8 also has its exact bytes in
    ``path_bytes`` (hex), from which ``source_path`` gives the name to open.
    """

    path: str
    path_bytes: str | None = None  # hex of the name's bytes, when they are not UTF-8
    status: FileStatus
    sha256: str | None = None
    size_bytes: int | None = None
    pages: list[PageResult] = Field(default_factory=list)
    text: str = ""
    confidence: float | None = None
    languages: list[str] = Field(default_factory=list)
    engine: str | None = None
    engine_version: str | None = None
    duration_s: float = 0.0
    attempts: int = 0
    node: str | None = None
    node_id: str | None = None
    duplicate_of: str | None = None
    # "owner-password": a PDF encrypted with an owner password only, which opens and was
    # read without one (its restrictions on copying and printing were not applied).
    encrypted: str | None = None
    error: ErrorInfo | None = None
    warnings: list[PageWarning] = Field(default_factory=list)  # any page's, each once
    outputs: dict[str, str] = Field(default_factory=dict)  # format -> path relative to out
    checks: dict[str, OutputCheck] = Field(default_factory=dict)  # format -> its validation

    @model_validator(mode="before")
    @classmethod
    def _printable_names(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            return data
        path = data["path"]
        shown = printable(path)
        if shown != path:  # a name that is not UTF-8: keep its bytes
            data = {**data, "path": shown, "path_bytes": os.fsencode(path).hex()}
        if isinstance(data.get("duplicate_of"), str):
            data["duplicate_of"] = printable(data["duplicate_of"])
        if isinstance(data.get("outputs"), dict):
            data["outputs"] = {k: printable(v) for k, v in data["outputs"].items()}
        return data

    @property
    def source_path(self) -> str:
        """The name to open: ``path``, or its exact bytes when they are not UTF-8."""
        return os.fsdecode(bytes.fromhex(self.path_bytes)) if self.path_bytes else self.path

    @property
    def review_pages(self) -> int:
        """Pages with at least one warning."""
        return sum(1 for page in self.pages if page.warnings)


class FileEntry(BaseModel):
    """A file as the results viewer lists it: its outcome and pages, without text."""

    id: int  # its row in the job's store, which orders the list and names it in routes
    path: str
    status: FileStatus
    pages: int = 0
    confidence: float | None = None
    error: ErrorInfo | None = None
    warnings: list[PageWarning] = Field(default_factory=list)
    review_pages: list[int] = Field(default_factory=list)  # numbers of the pages that warn
    duplicate_of: str | None = None
    matched_pages: list[int] = Field(default_factory=list)  # a search's: pages with its terms


class CallbackOutcome(str, Enum):
    """Where a job's completion webhook stands."""

    pending = "pending"  # not sent yet, or being retried
    delivered = "delivered"  # the receiver answered 2xx
    gave_up = "gave_up"  # every attempt failed for the whole retry time, or none was allowed


class CallbackAttempt(BaseModel):
    """One delivery attempt of a completion webhook."""

    at: float  # Unix time
    status_code: int | None = None  # the receiver's answer, when there was one
    error: str | None = None  # why it did not count as delivered


class CallbackState(BaseModel):
    """A job's completion webhook: its outcome so far and every attempt."""

    url: str
    outcome: CallbackOutcome = CallbackOutcome.pending
    attempts: list[CallbackAttempt] = Field(default_factory=list)


class Progress(BaseModel):
    """A job's progress as the API and ``Job.progress()`` report it."""

    job_id: str
    status: JobStatus
    current: int
    total: int
    total_known: bool
    percentage: float
    succeeded: int
    failed: int
    skipped: int
    cancelled_files: int = 0  # of the skipped: never read because the job was cancelled
    pages: int  # pages of the files finished
    # Pages read, including the finished ranges of files still being read, and pages
    # known: those of every file probed so far (the total grows as probes come in, and
    # is final once pages_total_known).
    pages_done: int = 0
    pages_total: int = 0
    pages_total_known: bool = False
    review_pages: int  # pages read with a warning (low confidence, blank)
    rate: float  # files per second in the current run
    pages_rate: float = 0.0  # pages per second in the current run
    eta_s: float | None  # from pages/s, and from files/s while no page is read
    # When it will be done at the current rate (Unix time), once the walk has counted
    # every file: the projection a 500,000-document job is planned by.
    finish_at: float | None = None
    error: str | None = None  # why a failed job failed (e.g. the engine probe's finding)
    user: str | None = None  # the API user who submitted it (None: CLI or library)
    callback: CallbackState | None = None  # its completion webhook, if it asked for one
    created_at: float | None = None  # when it was submitted, and its last run's start and end
    started_at: float | None = None
    finished_at: float | None = None
    inputs: list[str] = Field(default_factory=list)  # the first files and folders it was given
    options: dict[str, Any] = Field(default_factory=dict)  # every job option, as it runs
    retry_of: str | None = None  # the job whose failed or unread files this one reads again


class FailedFile(BaseModel):
    """A failed file, named, with its error."""

    path: str
    code: str
    message: str


# How many failed files a summary names.
FAILED_FILES_LISTED = 20


class JobSummary(BaseModel):
    """The figures written to ``summary.json``."""

    job_id: str
    status: JobStatus
    total_files: int
    succeeded: int
    failed: int
    skipped: int
    pages: int
    review_pages: int
    warnings_by_code: dict[str, int]
    # Pages per path taken (PageSource): read by the engine, their text layer, blank.
    pages_by_source: dict[str, int] = {}
    total_characters: int
    average_confidence: float | None
    languages: list[str]
    provider: str
    elapsed_s: float
    pages_per_second: float
    failures_by_code: dict[str, int]
    inputs: list[str] = []  # the files and folders the job was given
    output_dir: str | None = None  # the folder this summary and the results were written to
    options: dict[str, Any] = {}  # every job option, as the job ran with it
    started_at: float | None = None  # the last run's start and end (Unix time)
    finished_at: float | None = None
    # The first failed files in scan order, at most FAILED_FILES_LISTED: the results
    # files list every one.
    failed_files: list[FailedFile] = []
