"""The records a job produces: per page, per file, and for the whole job."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field


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


class ErrorInfo(BaseModel):
    """Why a file failed or was skipped."""

    code: str
    message: str


class PageResult(BaseModel):
    """Text of one page."""

    number: int  # 1-based
    text: str
    confidence: float | None = None  # mean word confidence, 0-100
    source: str = "ocr"  # "ocr" or "text-layer"
    rotation: int = 0  # degrees the page was turned clockwise before it was read
    deskew: float = 0.0  # degrees it was then turned counter-clockwise to level its lines
    dpi: int | None = None  # resolution the engine was told; None: it estimated
    warnings: list[PageWarning] = Field(default_factory=list)


class FileRecord(BaseModel):
    """Everything known about one input file; one per file per job."""

    path: str
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
    error: ErrorInfo | None = None
    warnings: list[PageWarning] = Field(default_factory=list)  # any page's, each once
    outputs: dict[str, str] = Field(default_factory=dict)  # format -> path relative to out

    @property
    def review_pages(self) -> int:
        """Pages with at least one warning."""
        return sum(1 for page in self.pages if page.warnings)


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
    pages: int
    review_pages: int  # pages read with a warning (low confidence, blank)
    rate: float  # files per second in the current run
    eta_s: float | None
    # When it will be done at the current rate (Unix time), once the walk has counted
    # every file: the projection a 500,000-document job is planned by.
    finish_at: float | None = None
    error: str | None = None  # why a failed job failed (e.g. the engine probe's finding)
    user: str | None = None  # the API user who submitted it (None: CLI or library)


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
    total_characters: int
    average_confidence: float | None
    languages: list[str]
    provider: str
    elapsed_s: float
    pages_per_second: float
    failures_by_code: dict[str, int]
