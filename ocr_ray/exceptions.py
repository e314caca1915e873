"""One exception tree with stable exit codes and stable per-file error codes."""

from __future__ import annotations

from enum import Enum, IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``ocr-ray`` command; stable across releases."""

    ok = 0
    files_failed = 1
    usage = 2
    internal = 3
    cancelled = 4
    unhealthy = 5  # the cluster is not in the state asked for (health, a rolled-back update)
    output_unwritable = 6  # results could not be written: disk full, quota, read-only
    store_unavailable = 7  # the job store did not answer (a MongoDB outage)
    interrupted = 130


class ErrorCode(str, Enum):
    """Why one file failed or was skipped; stored as a plain string in every record."""

    empty_file = "empty_file"
    unsupported_format = "unsupported_format"
    unsupported_extension = "unsupported_extension"
    corrupt_image = "corrupt_image"
    decompression_bomb = "decompression_bomb"
    encrypted_pdf = "encrypted_pdf"
    corrupt_pdf = "corrupt_pdf"
    permission_denied = "permission_denied"
    file_not_found = "file_not_found"
    timeout = "timeout"
    engine_error = "engine_error"
    worker_lost = "worker_lost"
    output_failed = "output_failed"
    outside_input_root = "outside_input_root"
    cancelled = "cancelled"
    link_loop = "link_loop"  # its links lead round in a loop (ELOOP)
    path_too_long = "path_too_long"  # its path is over the system's limit (ENAMETOOLONG)
    io_error = "io_error"  # the disk could not read it (EIO and the like)
    file_changed = "file_changed"  # its content is no longer what the job read (viewer)


class OcrRayError(Exception):
    """Base of every error ocr_ray raises on purpose."""

    exit_code: ExitCode = ExitCode.internal


class UsageError(OcrRayError):
    """The request itself is wrong; nothing was processed."""

    exit_code = ExitCode.usage


class InputNotFoundError(UsageError):
    """An input path given by the user does not exist."""


class UnknownLanguageError(UsageError):
    """A language has no installed model for the chosen provider."""


class UnknownProviderError(UsageError):
    """The provider name is not registered."""


class JobNotFoundError(UsageError):
    """No job with that id is in the store."""


class JobRunningError(UsageError):
    """The job still has a live coordinator, so it cannot be resumed elsewhere."""


class EngineUnavailableError(UsageError):
    """The OCR engine is missing or broken where the pages would be read."""


class ConfigurationError(UsageError):
    """The operator's settings are unsafe or incomplete (e.g. the API has no token)."""


class FileError(OcrRayError):
    """One file could not be processed; recorded as a failed file, never raised to the user."""

    code: ErrorCode = ErrorCode.engine_error

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class EmptyFileError(FileError):
    """A zero-byte file."""

    code = ErrorCode.empty_file


class UnsupportedFormatError(FileError):
    """The content is not an image or PDF we can read, whatever its name says."""

    code = ErrorCode.unsupported_format


class CorruptImageError(FileError):
    """An image that starts well but cannot be decoded (truncated, damaged)."""

    code = ErrorCode.corrupt_image


class DecompressionBombError(FileError):
    """A page with more pixels than ``OCR_RAY_MAX_IMAGE_PIXELS`` allows."""

    code = ErrorCode.decompression_bomb


class EncryptedPdfError(FileError):
    """A password-protected PDF."""

    code = ErrorCode.encrypted_pdf


class CorruptPdfError(FileError):
    """A PDF that cannot be parsed."""

    code = ErrorCode.corrupt_pdf


class OutsideInputRootError(FileError):
    """A link in an API job's input whose target lies outside the job's input root."""

    code = ErrorCode.outside_input_root


class FileChangedError(FileError):
    """A file read by a job whose content has changed since (its sha256 differs)."""

    code = ErrorCode.file_changed


class OutputUnwritableError(OcrRayError):
    """The output folder cannot take the results (full disk, quota, read-only). The job
    keeps every record in the store: free space, then resume or export it."""

    exit_code = ExitCode.output_unwritable


class StoreUnavailableError(OcrRayError):
    """The job store did not answer in time; what it holds is safe, but cannot be read
    or written until it is back."""

    exit_code = ExitCode.store_unavailable


class RunningJobLimitError(UsageError):
    """A user already has as many running jobs as ``OCR_RAY_USER_MAX_RUNNING_JOBS`` allows."""

    def __init__(self, user: str, limit: int) -> None:
        super().__init__(
            f"{user} already has {limit} jobs queued or running, the most allowed "
            "(OCR_RAY_USER_MAX_RUNNING_JOBS); wait for one to finish or cancel one"
        )


class OcrTimeoutError(FileError):
    """The engine took longer than the per-file timeout."""

    code = ErrorCode.timeout
