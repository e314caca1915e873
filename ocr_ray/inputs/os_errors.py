"""What an operating-system error on an input means for its record: one table, used by
the walk, the probe and the read alike."""

from __future__ import annotations

import errno

from ocr_ray.exceptions import ErrorCode, FileError

# errno -> (code, what it means for the input); anything else is an I/O error.
_MEANING = {
    errno.ENOENT: (ErrorCode.file_not_found, "it is not there (removed, or a dangling link)"),
    errno.EACCES: (
        ErrorCode.permission_denied,
        "permission denied: the OCR workers' user cannot read it",
    ),
    errno.EPERM: (ErrorCode.permission_denied, "operation not permitted"),
    errno.ELOOP: (ErrorCode.link_loop, "its links lead round in a loop"),
    errno.ENAMETOOLONG: (ErrorCode.path_too_long, "its path is longer than the system allows"),
    errno.EISDIR: (ErrorCode.unsupported_format, "it is a folder"),
    errno.EIO: (ErrorCode.io_error, "the disk could not read it (I/O error)"),
}


def code_of(exc: OSError) -> tuple[ErrorCode, str]:
    """The record's code for ``exc``, and a message that says what happened."""
    code, why = _MEANING.get(exc.errno or 0, (ErrorCode.io_error, ""))
    return code, why or f"{exc.strerror or type(exc).__name__} (errno {exc.errno})"


def os_error(path: str, exc: OSError) -> FileError:
    """The ``FileError`` recorded for ``path`` when ``exc`` stopped its read."""
    code, why = code_of(exc)
    return FileError(f"{path}: {why}", code=code)
