"""Request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ocr_ray.models import EXPORT_FORMATS, ErrorInfo, Progress


class ProcessRequest(BaseModel):
    """Start a job on a folder that lies under one of the input roots."""

    folder_path: str = Field(min_length=1, max_length=4096)
    provider: str = "tesseract"
    languages: list[str] = Field(default_factory=lambda: ["eng"], min_length=1, max_length=16)
    recursive: bool = True
    # Record formats, plus pdf, hocr and alto to have the workers make those too.
    export_formats: list[str] = Field(default_factory=lambda: list(EXPORT_FORMATS))
    skip_text: bool = False
    deskew: bool = False  # level tilted pages and read them again


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


class Options(BaseModel):
    """What a job may ask for on this server."""

    providers: dict[str, list[str]]
    input_roots: list[str]
    folders: list[str]
    export_formats: list[str]  # what the results ZIP holds by default
    archive_formats: list[str]  # documents the workers can make too


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
