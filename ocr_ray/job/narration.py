"""What ocr_ray says it is doing, and how much of Ray's own start-up talk is shown.

Messages go to the ``ocr_ray`` logger at INFO: the CLI prints them on stderr (``--quiet``
silences them); a library user sees them once logging is configured. Ray's start-up
lines are held back unless asked for (``--verbose``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

log = logging.getLogger("ocr_ray")
_verbose = False


def say(message: str) -> None:
    """Tell the user what is happening (stderr in the CLI)."""
    log.info(message)


def for_cli(*, quiet: bool, verbose: bool) -> None:
    """Print ocr_ray's messages on stderr (none with ``quiet``); Ray's too if ``verbose``."""
    global _verbose
    _verbose = verbose
    for earlier in [h for h in log.handlers if isinstance(h, _AboveTheBar)]:
        log.removeHandler(earlier)  # main() may run more than once in a process
    handler = _AboveTheBar()
    handler.setFormatter(logging.Formatter("ocr-ray: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


@contextlib.contextmanager
def ray_start_up() -> Iterator[None]:
    """Around ``ray.init``: Ray's own lines only if verbose. Among them is Ray's note that
    it turned token auth on for a local cluster, which advises turning it off; the
    README explains token auth instead."""
    ray_log = logging.getLogger("ray")
    level = ray_log.level
    if not _verbose:
        ray_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ray_log.setLevel(level)


class _AboveTheBar(logging.Handler):
    """Writes a line on stderr above the progress bar, which tqdm then draws again."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)
