"""Bulk job routes: submit, upload, follow, list, cancel, download."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, status
from fastapi.responses import FileResponse

from ocr_ray.api import (
    export_job,
    formats,
    get_format,
    handwriting_providers,
    kind_of,
    progress_of,
    providers,
    summary_of,
)
from ocr_ray.exceptions import UsageError
from ocr_ray.models import FileStatus, Progress
from ocr_ray.store import JobRow
from serve import uploads
from serve.deps import AuditDep, SettingsDep, StoreDep, UserDep, current_user, owned_job
from serve.keys import Principal
from serve.schemas import (
    AUTH_ERRORS,
    FileSummary,
    FormatInfo,
    JobCreated,
    JobsPage,
    Options,
    ProcessRequest,
    UploadForm,
    errors,
    job_options,
)
from serve.security import confine, input_roots, root_of
from serve.submission import SubmissionDep
from serve.viewer import shown_inputs

router = APIRouter(
    prefix="/api/bulk", tags=["bulk"], dependencies=[Depends(current_user)], responses=AUTH_ERRORS
)
# A retry with the same Idempotency-Key gets the first request's job, and starts nothing.
_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": JobCreated, "description": "the job a retried request started"}
}


@router.post(
    "/process",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobCreated,
    responses={**_REPLAYED, **errors(403, 404, 409, 422)},
)
def process(body: ProcessRequest, submission: SubmissionDep) -> JobCreated:
    """Start OCR of a folder under an input root; the job runs detached from the request.

    Nothing outside that root is read: links that lead out of it are recorded as
    skipped (``outside_input_root``). With an ``Idempotency-Key``, a retry of the same
    request answers 200 with the first job's id.
    """
    roots = input_roots(submission.settings)
    folder = confine(body.folder_path, roots)
    if folder is None:
        allowed = ", ".join(str(root) for root in roots) or "none are set"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"folder_path {body.folder_path!r} is outside the input roots ({allowed})",
        )
    if not folder.exists():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"folder_path {body.folder_path!r} does not exist"
        )
    options = job_options(body)
    params = submission.params([str(folder)], options, input_root=str(root_of(folder, roots)))
    return submission.start_once(
        params, ("process", body.model_dump(), ()), detail=lambda: f"folder {folder}"
    )


@router.post(
    "/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobCreated,
    responses={**_REPLAYED, **errors(400, 409, 413, 422)},
)
def upload(
    form: Annotated[UploadForm, Form(media_type="multipart/form-data")],
    submission: SubmissionDep,
) -> JobCreated:
    """Store uploaded files in a server-owned folder and start a job on them; the form
    takes every job option that ``process`` takes (a list as repeated fields, or one
    comma list), and an ``Idempotency-Key`` as ``process`` does."""
    submission.check_quota()  # before the upload is stored, not after
    target = uploads.upload_dir(submission.settings, submission.job_id)
    params = submission.params([str(target)], job_options(form), input_root=str(target))
    members = [(f.filename or "file", f.file) for f in form.files]  # type: ignore[attr-defined]
    fields = {**form.model_dump(exclude={"files"}), "files": [name for name, _ in members]}
    count = 0

    def store_files() -> None:
        nonlocal count
        count = _store_upload(members, target, submission.settings)

    try:
        return submission.start_once(
            params,
            ("upload", fields, (f for _, f in members)),
            detail=lambda: f"upload of {count} files",
            prepare=store_files,
        )
    except HTTPException:
        if count:  # stored, but no job took it
            uploads.discard(target)
        raise


def _store_upload(members: list[tuple[str, Any]], target: Any, settings: SettingsDep) -> int:
    """Save the upload's members under ``target``; how many files it held (400, 413
    for a bad or oversized upload, nothing kept)."""
    try:
        count = uploads.save_uploads(members, target, settings.upload_max_bytes)
    except uploads.UploadTooLarge as exc:
        uploads.discard(target)
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc)) from exc
    except uploads.BadArchive as exc:
        uploads.discard(target)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    if count == 0:
        uploads.discard(target)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files in the upload")
    return count


@router.get("/progress/{job_id}", response_model=Progress, responses=errors(404, 422))
async def progress(job_id: str, store: StoreDep, user: UserDep) -> Progress:
    """Counts, rate and ETA of one of the caller's jobs."""
    return shown_progress(_job(store, job_id, user))


def shown_progress(row: JobRow) -> Progress:
    """A job's progress with its inputs named as its owner knows them."""
    progress = progress_of(row)
    progress.inputs = shown_inputs(row.params, most=len(progress.inputs))
    return progress


@router.get("/jobs", response_model=JobsPage, responses=errors(403, 422))
def list_jobs(
    store: StoreDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    everyone: Annotated[bool, Query(alias="all", description="every user's (admins)")] = False,
) -> JobsPage:
    """The caller's jobs, newest first, a page at a time; ``?all=true`` (admins): all."""
    if everyone and not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "all=true needs an admin key")
    owner = None if everyone else user.user
    rows = store.list_jobs(limit=limit, offset=offset, user=owner)
    return JobsPage(data=[shown_progress(r) for r in rows], count=store.count_jobs(user=owner))


@router.post("/jobs/{job_id}/cancel", response_model=Progress, responses=errors(404, 409, 422))
def cancel(job_id: str, store: StoreDep, user: UserDep, audit: AuditDep) -> Progress:
    """Stop a job; unread files are recorded as skipped (409 if it already ended)."""
    _job(store, job_id, user)
    if not store.request_cancel(job_id=job_id):
        raise HTTPException(status.HTTP_409_CONFLICT, "the job has already finished")
    audit("cancel", job_id)
    return progress_of(_job(store, job_id, user))


@router.get("/files/{job_id}", response_model=list[FileSummary], responses=errors(404, 422))
def files(
    job_id: str,
    store: StoreDep,
    user: UserDep,
    status_filter: Annotated[FileStatus | None, Query(alias="status")] = None,
    review: Annotated[bool, Query(description="only files with pages to review")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FileSummary]:
    """Per-file outcomes without text: ``?status=failed`` for the error list,
    ``?review=true`` for files with pages that warn (low confidence, blank)."""
    _job(store, job_id, user)
    records = store.iter_records(job_id=job_id, status=status_filter)
    if review:
        records = (r for r in records if r.warnings)
    return [
        FileSummary(
            path=r.path,
            status=r.status.value,
            pages=len(r.pages),
            confidence=r.confidence,
            error=r.error,
            warnings=[w.value for w in r.warnings],
            review_pages=[p.number for p in r.pages if p.warnings],
            outputs=r.outputs,
        )
        for r in itertools.islice(records, offset, offset + limit)
    ]


# The ``format`` of a download: by the key (``results``) or by a link (``download-link``).
DownloadFormat = Annotated[
    str, Query(max_length=64, description="zip, or a record format: jsonl, csv ...")
]


@router.get("/results/{job_id}", responses=errors(404, 409, 422))
def results(
    job_id: str,
    store: StoreDep,
    settings: SettingsDep,
    user: UserDep,
    audit: AuditDep,
    format: DownloadFormat = "zip",
) -> FileResponse:
    """The results ZIP (the job's ``export_formats`` and its summary), or one file.

    The ZIP holds the document folders (``pdf/``, ``hocr/`` ...) the job made.
    ``?format=`` a record format gives that one file whatever the job's formats were.
    A browser downloads by a link instead (``download-link``): it cannot send the key.
    """
    row = _job(store, job_id, user)
    response = results_file(store, settings, row, format)
    audit("download", job_id, download_format(format).name)
    return response


def results_file(store: StoreDep, settings: SettingsDep, row: JobRow, name: str) -> FileResponse:
    """The finished job's results in format ``name`` (written on the first ask), streamed
    from disk; 409 while it runs, 422 for a format that is not one file."""
    fmt = download_format(name)
    if not row.status.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job is {row.status.value}")
    out = settings.resolved_output_root / row.id
    wanted = out / f"results{fmt.suffix}"
    if not wanted.exists():  # written once, on the first download after the job ended
        summary = summary_of(store, row)
        names = [*row.params.export_formats, fmt.name] if name == "zip" else [fmt.name]
        export_job(store, job_id=row.id, summary=summary, out_dir=out, formats=names)
    return FileResponse(wanted, media_type=fmt.media_type, filename=f"ocr-{row.id}{fmt.suffix}")


def download_format(name: str) -> Any:
    """The bundle or record format ``name`` names; 422 for anything else."""
    try:
        fmt = get_format(name)
    except UsageError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    if kind_of(fmt) == "document":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, f"{name} is one document per file: use zip"
        )
    return fmt


@router.get("/options", response_model=Options)
def options(settings: SettingsDep) -> Options:
    """Providers with their installed languages, and the folders jobs may read."""
    roots = input_roots(settings)
    folders = [str(r) for r in roots]
    for root in roots:
        if root.is_dir():
            folders += sorted(
                str(p)
                for p in root.iterdir()
                if p.is_dir() and not p.name.startswith(".") and confine(str(p), roots)
            )
    listed = [
        FormatInfo(
            name=f.name,
            aliases=list(f.aliases),
            label=f.label,
            kind=kind_of(f),
            media_type=f.media_type,
            default=f.default,
        )
        for f in formats()
    ]
    return Options(
        providers=providers(),
        handwriting=handwriting_providers(),
        input_roots=[str(r) for r in roots],
        folders=folders[:500],
        formats=listed,
        export_formats=[f.name for f in listed if f.default],
        archive_formats=[f.name for f in listed if f.kind == "document"],
        viewer_max_width=settings.viewer_max_width,
    )


def _job(store: StoreDep, job_id: str, user: Principal) -> JobRow:
    return owned_job(store, job_id, user)
