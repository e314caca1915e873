"""ocr_ray: distributed bulk OCR on Ray.

Example:
    >>> import ocr_ray
    >>> job = ocr_ray.submit("scans/", languages=["eng"])
    >>> summary = job.wait()
    >>> job.export("out/")
"""

from ocr_ray._version import __version__
from ocr_ray.exceptions import ErrorCode, ExitCode, FileError, OcrRayError, UsageError
from ocr_ray.job.handle import Job, get_job, list_jobs, resume, submit
from ocr_ray.models import FileRecord, FileStatus, JobStatus, JobSummary, PageResult, Progress

__all__ = [
    "ErrorCode",
    "ExitCode",
    "FileError",
    "FileRecord",
    "FileStatus",
    "Job",
    "JobStatus",
    "JobSummary",
    "OcrRayError",
    "PageResult",
    "Progress",
    "UsageError",
    "__version__",
    "get_job",
    "list_jobs",
    "resume",
    "submit",
]
