"""The output side of a job: page-range results into one record per file, in the store.

The coordinator is the only writer of a job's records, so a retried or duplicated
task can never be counted twice. Records are written in batches.
"""

from __future__ import annotations

import time
from pathlib import Path

from ocr_ray._version import __version__
from ocr_ray.exceptions import ErrorCode, OutputUnwritableError
from ocr_ray.formats import of_kind
from ocr_ray.inputs.documents import Probe
from ocr_ray.job.metrics import record_file
from ocr_ray.job.outputs import DocumentWriter
from ocr_ray.job.records import Assembly, duplicate_record
from ocr_ray.job.tasks import UnitResult
from ocr_ray.models import ErrorInfo, FileRecord, FileStatus, OutputCheck
from ocr_ray.params import JobParams
from ocr_ray.plugins import Checked, DocumentFormat
from ocr_ray.settings import Settings
from ocr_ray.store import JobStore, LivePages


class Recorder:
    """Assembles each file's ranges, makes its documents, and stores its record."""

    def __init__(self, store: JobStore, job_id: str, params: JobParams, settings: Settings) -> None:
        self.store, self.job_id, self.params, self.settings = store, job_id, params, settings
        documents = of_kind(params.export_formats, DocumentFormat)
        self.documents = (
            DocumentWriter(Path(params.output_dir or "."), documents, params.paths)
            if documents
            else None
        )
        self._assemblies: dict[str, Assembly] = {}
        self._writes: list[FileRecord] = []
        self._last_flush = time.monotonic()
        self._live = self._stored_live = LivePages()

    def expect(self, probe: Probe, ranges: int) -> None:
        """A file whose ``ranges`` page ranges are about to be read."""
        self._assemblies[probe.path] = Assembly(probe, self.params.languages, ranges)
        self._move_live(0, probe.page_count, 1)

    def deliver(self, part: UnitResult) -> FileRecord | None:
        """Take one range's result; the file's record once all its ranges are in."""
        assembly = self._assemblies[part.unit.path]
        if self.documents is not None and part.parts:
            self.documents.stage(part.unit.path, part.unit.first, part.parts)
            part.parts = {}
        assembly.add(part)
        self._move_live(part.unit.count, 0, 0)
        if not assembly.complete:
            return None
        del self._assemblies[part.unit.path]
        read = sum(done.unit.count for done in assembly.parts)
        self._move_live(-read, -assembly.probe.page_count, -1)
        record = self._finish(assembly)
        self.write(record)
        if self.params.cache and record.status is FileStatus.succeeded:
            self.store.cache_put(key=self._cache_key(assembly.probe.sha256), record=record)
        return record

    def known_result(self, sha256: str) -> FileRecord | None:
        """A successful record of identical content: this job's, or the cache's."""
        for record in self._writes:
            if record.sha256 == sha256 and record.status is FileStatus.succeeded:
                return record
        found = self.store.find_by_sha(job_id=self.job_id, sha256=sha256)
        # Another job's documents are not under this job's output folder.
        if found is None and self.params.cache and self.documents is None:
            found = self.store.cache_get(key=self._cache_key(sha256))
        return found

    def reuse(self, probe: Probe, original: FileRecord) -> bool:
        """Record ``probe`` as a copy of ``original``; False if its documents are gone."""
        record = duplicate_record(probe.path, probe, original)
        if self.documents is not None:
            outputs = self.documents.copy(original.outputs, probe.path)
            if outputs is None:
                return False
            record.outputs = outputs
        self.write(record)
        return True

    def write(self, record: FileRecord) -> None:
        """Queue a final record for the next batch."""
        self._writes.append(record)
        record_file(record, self.params.provider)

    def flush_if_due(self) -> None:
        """Write the batch if it is full or old enough."""
        due = time.monotonic() - self._last_flush >= self.settings.write_interval_s
        if due or len(self._writes) >= self.settings.write_batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the batch now, with the pages of the files still in progress."""
        if self._writes or self._live != self._stored_live:
            self.store.complete_files(job_id=self.job_id, records=self._writes, live=self._live)
            self._writes, self._stored_live = [], self._live
        self._last_flush = time.monotonic()

    def _move_live(self, reading: int, queued: int, files: int) -> None:
        live = self._live
        self._live = LivePages(live.reading + reading, live.queued + queued, live.files + files)

    def _finish(self, assembly: Assembly) -> FileRecord:
        """The file's record, with its documents assembled if it succeeded."""
        record = assembly.record()
        if self.documents is None:
            return record
        path = assembly.probe.path  # the name to open, which record.path may only show
        if record.status is not FileStatus.succeeded:
            self.documents.discard(path)
            return record
        firsts = [part.unit.first for part in assembly.parts]
        system = f"{record.engine or self.params.provider} {record.engine_version or ''}".strip()
        try:
            record.outputs, checks = self.documents.finish(path, firsts, system)
            record.checks = {name: _check(found) for name, found in checks.items()}
        except OutputUnwritableError:  # the disk's fault: the file stays pending
            self.documents.discard(path)
            raise
        except Exception as exc:  # a damaged part: this file fails, not the job
            self.documents.discard(path)
            record.status = FileStatus.failed
            record.error = ErrorInfo(
                code=ErrorCode.output_failed.value,
                message=f"{record.path}: its {', '.join(self.documents.names)} could not be "
                f"written: {type(exc).__name__}: {exc}",
            )
        return record

    def close(self) -> None:
        """Write what is left and tidy the documents' staging folder."""
        self.flush()
        if self.documents is not None:
            self.documents.close()

    def _cache_key(self, sha256: str) -> str:
        return self.params.cache_key(sha256, __version__)


def _check(found: Checked) -> OutputCheck:
    return OutputCheck(standard=found.standard, passed=found.passed, findings=list(found.findings))
