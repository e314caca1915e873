"""Bulk job routes: submit, upload, follow, list, cancel, download."""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import FileResponse

from ocr_ray._engines import get_provider, provider_names
from ocr_ray._export import export_job, parse_formats
from ocr_ray._job import progress_of, summary_of
from ocr_ray.exceptions import UsageError
from ocr_ray.models import FileStatus, JobParams, Progress
from ocr_ray.store import JobRow
from serve import jobs
from serve.deps import SettingsDep, StoreDep, require_token
from serve.schemas import FileSummary, JobCreated, JobsPage, Options, ProcessRequest
from serve.security import confine, input_roots

router = APIRouter(prefix="/api/bulk", tags=["bulk"], dependencies=[Depends(require_token)])

_MEDIA = {
    "zip": "application/zip",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "csv": "text/csv",
    "txt": "text/plain",
}


@router.post("/process", status_code=status.HTTP_202_ACCEPTED, response_model=JobCreated)
def process(body: ProcessRequest, store: StoreDep, settings: SettingsDep) -> JobCreated:
    """Start OCR of a folder under an input root; the job runs detached from the request."""
    folder = confine(body.folder_path, input_roots(settings))
    if folder is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "folder_path is outside the input roots")
    if not folder.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "folder_path does not exist")
    params = _params(
        settings,
        [str(folder)],
        body.provider,
        body.languages,
        body.recursive,
        body.export_formats,
        body.skip_text,
    )
    return JobCreated(job_id=jobs.start_job(store, settings, params))


@router.post("/upload", status_code=status.HTTP_202_ACCEPTED, response_model=JobCreated)
def upload(
    files: Annotated[list[UploadFile], File(description="images, PDFs, or one zip")],
    store: StoreDep,
    settings: SettingsDep,
    provider: Annotated[str, Form()] = "tesseract",
    languages: Annotated[str, Form(description="comma or + separated")] = "eng",
    skip_text: Annotated[bool, Form()] = False,
) -> JobCreated:
    """Store uploaded files in a server-owned folder and start a job on them."""
    langs = [x for x in languages.replace("+", ",").split(",") if x.strip()]
    job_id = jobs.new_job_id()
    target = jobs.upload_dir(settings, job_id)
    params = _params(settings, [str(target)], provider, langs, True, None, skip_text)
    try:
        count = jobs.save_uploads(
            ((f.filename or "file", f.file) for f in files), target, settings.upload_max_bytes
        )
    except jobs.UploadTooLarge as exc:
        jobs.discard(target)
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc)) from exc
    except jobs.BadArchive as exc:
        jobs.discard(target)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    if count == 0:
        jobs.discard(target)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files in the upload")
    return JobCreated(job_id=jobs.start_job(store, settings, params, job_id=job_id))


@router.get("/progress/{job_id}", response_model=Progress)
def progress(job_id: str, store: StoreDep) -> Progress:
    """Counts, rate and ETA of one job."""
    return progress_of(_job(store, job_id))


@router.get("/jobs", response_model=JobsPage)
def list_jobs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobsPage:
    """Jobs, newest first, a page at a time."""
    rows = store.list_jobs(limit=limit, offset=offset)
    return JobsPage(data=[progress_of(r) for r in rows], count=store.count_jobs())


@router.post("/jobs/{job_id}/cancel", response_model=Progress)
def cancel(job_id: str, store: StoreDep) -> Progress:
    """Stop a job; unread files are recorded as skipped (409 if it already ended)."""
    _job(store, job_id)
    if not store.request_cancel(job_id=job_id):
        raise HTTPException(status.HTTP_409_CONFLICT, "the job has already finished")
    return progress_of(_job(store, job_id))


@router.get("/files/{job_id}", response_model=list[FileSummary])
def files(
    job_id: str,
    store: StoreDep,
    status_filter: Annotated[FileStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FileSummary]:
    """Per-file outcomes without text, e.g. ``?status=failed`` for the error list."""
    _job(store, job_id)
    records = store.iter_records(job_id=job_id, status=status_filter)
    return [
        FileSummary(
            path=r.path,
            status=r.status.value,
            pages=len(r.pages),
            confidence=r.confidence,
            error=r.error,
        )
        for r in itertools.islice(records, offset, offset + limit)
    ]


@router.get("/results/{job_id}")
def results(
    job_id: str,
    store: StoreDep,
    settings: SettingsDep,
    format: Annotated[str, Query(pattern="^(zip|jsonl|json|csv|txt)$")] = "zip",
) -> FileResponse:
    """The results ZIP (the job's ``export_formats`` and its summary), or one file.

    ``?format=jsonl|json|csv|txt`` gives that one file whatever the job's formats were.
    """
    row = _job(store, job_id)
    if not row.status.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job is {row.status.value}")
    out = settings.resolved_output_root / job_id
    wanted = out / ("results.zip" if format == "zip" else f"results.{format}")
    if not wanted.exists():  # written once, on the first download after the job ended
        summary = summary_of(row, store.failures_by_code(job_id=job_id))
        formats = row.params.export_formats if format == "zip" else [format]
        export_job(store, job_id=job_id, summary=summary, out_dir=out, formats=formats)
    return FileResponse(wanted, media_type=_MEDIA[format], filename=f"ocr-{job_id}.{format}")


@router.get("/options", response_model=Options)
def options(settings: SettingsDep) -> Options:
    """Providers with their installed languages, and the folders jobs may read."""
    providers = {
        name: sorted(get_provider(name).available_languages()) for name in provider_names()
    }
    roots = input_roots(settings)
    folders = [str(r) for r in roots]
    for root in roots:
        if root.is_dir():
            folders += sorted(
                str(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
    return Options(providers=providers, input_roots=[str(r) for r in roots], folders=folders[:500])


def _job(store: StoreDep, job_id: str) -> JobRow:
    row = store.get_job(job_id) if jobs.JOB_ID_PATTERN.match(job_id) else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return row


def _params(
    settings: SettingsDep,
    paths: list[str],
    provider: str,
    languages: list[str],
    recursive: bool,
    formats: list[str] | None,
    skip_text: bool,
) -> JobParams:
    """Validated job parameters; 422 for an unknown provider, language or format."""
    try:
        chosen = get_provider(provider)
        langs = chosen.validate_languages(languages)
        export_formats = [*parse_formats(formats), "zip"]
    except UsageError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    return JobParams(
        paths=paths,
        languages=langs,
        provider=provider,
        recursive=recursive,
        dpi=settings.dpi,
        skip_text=skip_text,
        timeout_per_file_s=settings.timeout_per_file_s,
        max_image_pixels=settings.max_image_pixels,
        export_formats=sorted(set(export_formats)),
    )
