"""Download links: the page asks for one with its key, and the browser streams the
file from it, so a job's results never pass through the page's memory."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from serve import tickets
from serve.deps import AuditDep, JobDep, SecretDep, SettingsDep, StoreDep, current_user
from serve.routes.bulk import DownloadFormat, download_format, results_file
from serve.schemas import AUTH_ERRORS, DownloadLink, errors

router = APIRouter(
    prefix="/api/bulk", tags=["bulk"], dependencies=[Depends(current_user)], responses=AUTH_ERRORS
)
# Outside /api: the link itself is the credential, so it needs no key.
links = APIRouter(tags=["bulk"])


@router.post(
    "/jobs/{job_id}/download-link", response_model=DownloadLink, responses=errors(404, 409, 422)
)
def download_link(
    job: JobDep,
    secret: SecretDep,
    audit: AuditDep,
    format: DownloadFormat = "zip",
) -> DownloadLink:
    """A link to the finished job's results that works without the key for
    ``tickets.TICKET_TTL_S`` seconds, for this job and format only."""
    fmt = download_format(format)
    if not job.status.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job is {job.status.value}")
    ticket, expires = tickets.issue(secret, job.id, fmt.name)
    audit("download", job.id, fmt.name)
    return DownloadLink(url=f"/download/{ticket}", expires_at=expires)


@links.get("/download/{ticket}", responses=errors(404, 409, 422))
def download(
    ticket: str, secret: SecretDep, store: StoreDep, settings: SettingsDep
) -> FileResponse:
    """The file a download link was made for, streamed; 404 once the link has expired."""
    redeemed = tickets.redeem(secret, ticket)
    row = store.get_job(redeemed[0]) if redeemed else None
    if redeemed is None or row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this download link is wrong or has expired")
    return results_file(store, settings, row, redeemed[1])
