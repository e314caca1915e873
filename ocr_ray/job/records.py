"""Turning task results into one final record per input file."""

from __future__ import annotations

from dataclasses import dataclass, field

from ocr_ray.exceptions import ErrorCode, FileError
from ocr_ray.inputs.documents import Probe
from ocr_ray.job.tasks import UnitResult
from ocr_ray.models import ErrorInfo, FileRecord, FileStatus


def failed_record(path: str, error: FileError, *, languages: list[str]) -> FileRecord:
    """A file that failed before any task ran (probe errors)."""
    return FileRecord(
        path=path,
        status=FileStatus.failed,
        languages=languages,
        error=ErrorInfo(code=error.code.value, message=str(error)),
    )


def skipped_record(path: str, code: ErrorCode, message: str, *, languages: list[str]) -> FileRecord:
    """A file that was deliberately not processed (unsupported type, cancelled job)."""
    return FileRecord(
        path=path,
        status=FileStatus.skipped,
        languages=languages,
        error=ErrorInfo(code=code.value, message=message),
    )


def duplicate_record(path: str, probe: Probe, original: FileRecord) -> FileRecord:
    """A copy of the record of identical content read elsewhere in this job or cache."""
    # Validated again, not copied: the copy's own name may need its bytes kept.
    return FileRecord.model_validate(
        {
            **original.model_dump(exclude={"path_bytes"}),
            "path": path,
            "size_bytes": probe.size,
            "duration_s": 0.0,
            "attempts": 0,
            "duplicate_of": original.duplicate_of or original.path,
        }
    )


@dataclass
class Assembly:
    """Collects the page-range results of one file until all have arrived."""

    probe: Probe
    languages: list[str]
    expected: int
    parts: list[UnitResult] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every page range has reported."""
        return len(self.parts) >= self.expected

    def add(self, part: UnitResult) -> None:
        """Keep one page range's result."""
        self.parts.append(part)

    def record(self) -> FileRecord:
        """The file's record: pages in order, and the first error if any range failed."""
        parts = sorted(self.parts, key=lambda p: p.unit.first)
        pages = [page for part in parts for page in part.pages]
        errors = [part.error for part in parts if part.error]
        status = _status(errors)
        if status is FileStatus.skipped:
            pages = []
        confidences = [p.confidence for p in pages if p.confidence is not None]
        lead = next((p for p in parts if p.engine), parts[0])
        return FileRecord(
            path=self.probe.path,
            status=status,
            sha256=self.probe.sha256,
            size_bytes=self.probe.size,
            encrypted=self.probe.encrypted,
            pages=pages,
            text="\f".join(page.text for page in pages),
            confidence=sum(confidences) / len(confidences) if confidences else None,
            languages=self.languages,
            engine=lead.engine,
            engine_version=lead.engine_version,
            duration_s=round(sum(p.duration_s for p in parts), 3),
            attempts=max(p.attempts for p in parts),
            node=lead.node,
            node_id=lead.node_id,
            error=errors[0] if errors else None,
            warnings=list(dict.fromkeys(w for page in pages for w in page.warnings)),
        )


def _status(errors: list[ErrorInfo]) -> FileStatus:
    """Failed if a range failed; skipped if the file was refused (a link swapped to
    point outside the input root after the scan), not failed: nothing was wrong with it."""
    if not errors:
        return FileStatus.succeeded
    refused = all(e.code == ErrorCode.outside_input_root.value for e in errors)
    return FileStatus.skipped if refused else FileStatus.failed
