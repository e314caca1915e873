"""The results viewer's routes: a job's files a page at a time, and each page's image,
text and word boxes. Owner-only, as every job route is."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from ocr_ray.exceptions import ErrorCode, FileError
from ocr_ray.models import FileEntry, FileRecord, FileStatus, PageResult
from ocr_ray.settings import get_settings
from ocr_ray.store import MAX_TERMS, FileQuery, brief_entry, search_terms
from serve.deps import JobDep, SettingsDep, StoreDep, current_user
from serve.schemas import AUTH_ERRORS, FileDetail, FilesPage, PageWords, WordBox, errors
from serve.viewer import RenderCache, page_image, scaled_words, shown_path

router = APIRouter(
    prefix="/api/bulk/jobs/{job_id}/files",
    tags=["viewer"],
    dependencies=[Depends(current_user)],
    responses=AUTH_ERRORS,
)
FileId = Annotated[int, Path(ge=1, description="the file's id, as the file list gives it")]
PageNumber = Annotated[int, Path(ge=1, description="the page's number, from 1")]
Width = Annotated[int, Query(ge=64, description="pixels; at most the server's viewer width")]
_DEFAULT_WIDTH = 1200


@functools.lru_cache(maxsize=1)
def _renders(max_bytes: int) -> RenderCache:
    return RenderCache(max_bytes)


@dataclass(frozen=True)
class ShownPage:
    """The page a request for an image or words is about, and the width asked."""

    record: FileRecord
    page: PageResult
    width: int


def _shown_page(
    job: JobDep,
    store: StoreDep,
    settings: SettingsDep,
    file_id: FileId,
    n: PageNumber,
    width: Width = _DEFAULT_WIDTH,
) -> ShownPage:
    """The file's page ``n`` at ``width``: 404 for no such page, 422 for too wide."""
    if width > settings.viewer_max_width:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"width: at most {settings.viewer_max_width} pixels on this server"
            " (OCR_RAY_VIEWER_MAX_WIDTH)",
        )
    record, page = _page(store, job, file_id, n)
    return ShownPage(record, page, width)


PageDep = Annotated[ShownPage, Depends(_shown_page)]


@router.get("", response_model=FilesPage, responses=errors(404, 422))
def list_files(
    job: JobDep,
    store: StoreDep,
    status_filter: Annotated[FileStatus | None, Query(alias="status")] = None,
    review: Annotated[bool, Query(description="only files with a page that warns")] = False,
    q: Annotated[str | None, Query(max_length=500, description="words in the text")] = None,
    cursor: Annotated[int, Query(ge=0, description="the last page's next_cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FilesPage:
    """The job's files in the order they were found, filtered by ``status``, by
    ``review`` and by a search of their text (every word of ``q``), each through an
    index; ``next_cursor`` asks for the next page."""
    query = FileQuery(status_filter, review, _terms(q), after=cursor, limit=limit)
    entries = [_shown(e, job) for e in store.list_files(job_id=job.id, query=query)]
    more = entries[-1].id if len(entries) == limit else None
    return FilesPage(data=entries, next_cursor=more)


@router.get("/{file_id}", response_model=FileDetail, responses=errors(404, 422))
def file_detail(job: JobDep, store: StoreDep, file_id: FileId) -> FileDetail:
    """One file: its outcome (a failed file's error code and message) and its pages'
    text, confidence, warnings, rotation and deskew."""
    record = _record(store, job, file_id)
    entry = _shown(brief_entry(file_id, record), job)
    return FileDetail(file=entry, pages=record.pages, low_confidence=get_settings().low_confidence)


@router.get(
    "/{file_id}/pages/{n}/image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the page as it was read"},
        **errors(403, 404, 410, 422),
    },
)
def page_image_route(job: JobDep, settings: SettingsDep, shown: PageDep) -> Response:
    """The page as it was read (turned upright and levelled as its record says), at
    most ``width`` pixels wide, rendered from the input: 410 if it has vanished or
    changed since."""
    renders = _renders(settings.viewer_cache_bytes)
    try:
        image = page_image(job.params, shown.record, shown.page, shown.width, renders)
    except FileError as exc:
        raise _unreadable(exc) from exc
    return Response(image.data, media_type=image.media_type, headers={"Cache-Control": "private"})


@router.get("/{file_id}/pages/{n}/words", response_model=PageWords, responses=errors(404, 422))
def page_words(job: JobDep, store: StoreDep, shown: PageDep) -> PageWords:
    """Each word's text, confidence and box in the pixels of the page image at
    ``width``; none for a page the engine did not read (its text layer's, or blank)."""
    assert shown.record.sha256 is not None
    blob = store.page_words(job_id=job.id, sha256=shown.record.sha256, page=shown.page.number)
    size, words = scaled_words(blob, shown.width)
    return PageWords(
        width=size[0] if size else None,
        height=size[1] if size else None,
        low_confidence=get_settings().low_confidence,
        words=[WordBox(text=w.text, box=w.box, confidence=w.confidence) for w in words],
    )


def _terms(q: str | None) -> tuple[str, ...]:
    """The search's words; 422 for a ``q`` with none, or too many."""
    if q is None:
        return ()
    terms = tuple(dict.fromkeys(search_terms(q)))
    if not terms:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "q: no word to search for")
    if len(terms) > MAX_TERMS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, f"q: at most {MAX_TERMS} words, not {len(terms)}"
        )
    return terms


def _shown(entry: FileEntry, job: JobDep) -> FileEntry:
    """The entry with its names as the owner gave them, not the server's paths (its
    error's message included)."""
    server, entry.path = entry.path, shown_path(entry.path, job.params)
    if entry.error:
        message = entry.error.message.replace(server, entry.path)
        entry.error = entry.error.model_copy(update={"message": message})
    if entry.duplicate_of:
        entry.duplicate_of = shown_path(entry.duplicate_of, job.params)
    return entry


def _record(store: StoreDep, job: JobDep, file_id: int) -> FileRecord:
    record = store.get_file(job_id=job.id, file_id=file_id)
    if record is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no finished file {file_id} in job {job.id}"
        )
    return record


def _page(store: StoreDep, job: JobDep, file_id: int, n: int) -> tuple[FileRecord, PageResult]:
    """The file's record and its page ``n``; 404 for a file with no such page."""
    record = _record(store, job, file_id)
    if record.status is not FileStatus.succeeded or record.sha256 is None:
        code = record.error.code if record.error else record.status.value
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"file {file_id} was not read ({code}): it has no pages"
        )
    if n > len(record.pages):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"file {file_id} has {len(record.pages)} page(s), not {n}"
        )
    return record, record.pages[n - 1]


def _unreadable(exc: FileError) -> HTTPException:
    """Why a page cannot be shown any more: 403 for a file now reached through a link
    out of the input root, 410 for one that is gone or changed."""
    if exc.code is ErrorCode.outside_input_root:
        return HTTPException(status.HTTP_403_FORBIDDEN, str(exc))
    return HTTPException(status.HTTP_410_GONE, f"{exc} ({exc.code.value})")
