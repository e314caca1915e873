"""Another go at a job that did not read everything: resume an interrupted one, or
retry its failed (or, once cancelled, unread) files as a new job linked to it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status

from ocr_ray.api import progress_of
from ocr_ray.exceptions import ErrorCode
from ocr_ray.models import FileStatus, JobStatus, Progress
from ocr_ray.params import user_options
from ocr_ray.store import JobRow
from serve.deps import AuditDep, JobDep, StoreDep, current_user
from serve.runner import run_job
from serve.schemas import AUTH_ERRORS, JobCreated, errors
from serve.submission import SubmissionDep

router = APIRouter(
    prefix="/api/bulk", tags=["bulk"], dependencies=[Depends(current_user)], responses=AUTH_ERRORS
)
# A retry job names its files one by one in its parameters, which every read of the
# job loads: beyond this many, retry a folder instead.
RETRY_MAX_FILES = 10_000
Which = Literal["failed", "unread"]


@router.post(
    "/jobs/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobCreated,
    responses=errors(404, 409, 422, 429),
)
def retry(
    job: JobDep,
    store: StoreDep,
    submission: SubmissionDep,
    files: Annotated[Which, Query(description="failed, or unread (a cancelled job's)")] = "failed",
) -> JobCreated:
    """A new job over just this finished job's failed files (or the files a cancel left
    unread), with its options; the new job's ``retry_of`` names this one."""
    paths = _retry_paths(store, job, files)
    options = job.params.model_dump(include=set(user_options(api=True)))
    params = submission.params(paths, options, input_root=str(job.params.input_root))
    params = params.model_copy(update={"retry_of": job.id})
    request = ("retry", {"job_id": job.id, "files": files}, ())
    return submission.start_once(
        params, request, detail=lambda: f"retry of {len(paths)} {files} files of {job.id}"
    )


@router.post("/jobs/{job_id}/resume", response_model=Progress, responses=errors(404, 409, 422))
def resume(job: JobDep, store: StoreDep, audit: AuditDep) -> Progress:
    """Continue an interrupted job (its runner stopped before it ended) from where it
    stopped; the files it finished are not read again."""
    if job.status is not JobStatus.interrupted:
        raise HTTPException(status.HTTP_409_CONFLICT, _not_resumable(job))
    run_job(job.id)
    audit("resume", job.id)
    return progress_of(store.get_job(job.id) or job)


def _retry_paths(store: StoreDep, job: JobRow, files: Which) -> list[str]:
    """The paths a retry reads; 409 when there are none, or the job has not ended."""
    if not job.status.finished or job.params.input_root is None:
        reason = f"the job is {job.status.value}" if job.params.input_root else "not an API job"
        raise HTTPException(status.HTTP_409_CONFLICT, f"cannot retry job {job.id}: {reason}")
    wanted = FileStatus.failed if files == "failed" else FileStatus.skipped
    paths = [
        r.source_path
        for r in store.iter_records(job_id=job.id, status=wanted)
        if files == "failed" or (r.error and r.error.code == ErrorCode.cancelled.value)
    ]
    if not paths:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job.id} has no {files} files")
    if len(paths) > RETRY_MAX_FILES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"job {job.id} has {len(paths):,} {files} files; a retry takes at most "
            f"{RETRY_MAX_FILES:,}: submit their folder as a new job instead",
        )
    return paths


def _not_resumable(job: JobRow) -> str:
    if job.status is JobStatus.cancelled:
        return f"job {job.id} was cancelled: read the files it left with retry?files=unread"
    if job.status.finished:
        return f"job {job.id} is {job.status.value}: retry its failed files instead"
    return f"job {job.id} is {job.status.value}, not interrupted"
