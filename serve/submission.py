"""Starting a job for a request: its parameters checked, the user's limit kept, and an
``Idempotency-Key`` honoured, for ``process`` and ``upload`` alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Response, status

from ocr_ray.api import build_params, new_job_id
from ocr_ray.exceptions import RunningJobLimitError, UsageError
from ocr_ray.params import JobParams
from serve import idempotency
from serve.deployment import check_request
from serve.deps import AuditDep, SettingsDep, StoreDep, UserDep, UsersDep
from serve.idempotency import IdempotencyKey
from serve.runner import start_job
from serve.schemas import JobCreated


class Submission:
    """One submit request's job: made once, whatever retries of it arrive."""

    def __init__(
        self,
        store: StoreDep,
        users: UsersDep,
        settings: SettingsDep,
        user: UserDep,
        audit: AuditDep,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> None:
        self.store, self.users, self.settings, self.user = store, users, settings, user
        self.audit, self.response, self.key = audit, response, idempotency_key
        self.job_id = new_job_id()
        self.output_dir = str(settings.resolved_output_root / self.job_id)

    def params(self, paths: list[str], options: dict[str, Any], *, input_root: str) -> JobParams:
        """Validated job parameters (the caller confined the paths); 422 naming the field
        for an unknown or bad option, provider, language or format, or one this
        deployment cannot honour (swarm, scaling, callback)."""
        try:
            params = build_params(
                paths,
                options,
                output_dir=self.output_dir,
                input_root=input_root,
                check_paths=False,
                api=True,
            )
            check_request(params, self.settings, self.user)
        except UsageError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
        return params

    def check_quota(self) -> None:
        """429 when the user is at their running-job limit."""
        limit = self._limit()
        if limit and self.store.count_running(user=self.user.user) >= limit:
            _too_many(RunningJobLimitError(self.user.user, limit))

    def start_once(
        self,
        params: JobParams,
        request: tuple[str, dict[str, Any], Iterable[IO[bytes]]],
        *,
        detail: Callable[[], str],
        prepare: Callable[[], None] = lambda: None,
    ) -> JobCreated:
        """Start the job (after ``prepare``), unless the request, ``(route, fields,
        files)``, is a retry under the same key: then the first job, answered 200."""
        route, fields, files = request
        job_id, replayed = idempotency.once(
            self.users,
            user=self.user.user,
            key=self.key,
            # Only a request with a key is hashed: an upload's files are read once more.
            digest=idempotency.request_digest(route, fields, files) if self.key else "",
            job_id=self.job_id,
            ttl_s=self.settings.idempotency_ttl_s,
            start=lambda: self._start(params, prepare),
        )
        if replayed:
            self.response.status_code = status.HTTP_200_OK
            self.response.headers["Idempotent-Replayed"] = "true"
        else:
            self.audit("submit", job_id, detail())
        return JobCreated(job_id=job_id)

    def _start(self, params: JobParams, prepare: Callable[[], None]) -> None:
        """Hand the job to the runner; 429 when the user is at the running-job limit."""
        prepare()
        try:
            start_job(
                self.store,
                params,
                job_id=self.job_id,
                user=self.user.user,
                max_running=self._limit(),
            )
        except RunningJobLimitError as exc:
            _too_many(exc)

    def _limit(self) -> int:
        """The user's running-job limit: their key's own, else the server's (0: none)."""
        own = self.user.max_running
        return self.settings.user_max_running_jobs if own is None else own


def _too_many(exc: RunningJobLimitError) -> NoReturn:
    raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from exc


SubmissionDep = Annotated[Submission, Depends(Submission)]
