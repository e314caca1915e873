"""What the results viewer asks of a store: a job's files a page at a time, filtered
and searched through indexes, and each page's word boxes."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from ocr_ray.models import FileEntry, FileRecord, FileStatus

# What a stored record keeps for the list (the rest of FileEntry is the file's row).
BRIEF_FIELDS = {"pages", "confidence", "error", "warnings", "review_pages", "duplicate_of"}
# Search terms a query may hold; more narrow nothing a person types.
MAX_TERMS = 16
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FileQuery:
    """One page of a job's files: those after row ``after``, filtered as asked."""

    status: FileStatus | None = None
    review: bool = False  # only files with a page that warns
    terms: tuple[str, ...] = ()  # every one in the file's text (see ``search_terms``)
    after: int = 0
    limit: int = 50


def search_terms(text: str) -> list[str]:
    """Words as the indexes keep them: lower case, accents dropped, split at anything
    that is not a letter or digit (as SQLite FTS5's unicode61 tokenizer splits)."""
    bare = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    return _WORD.findall(bare)


def brief_of(record: FileRecord) -> str:
    """The part of a final record the file list shows, as stored beside it."""
    return brief_entry(0, record).model_dump_json(include=BRIEF_FIELDS)


def brief_entry(row: int, record: FileRecord) -> FileEntry:
    """A final record as the file list shows it."""
    return FileEntry(
        id=row,
        path=record.path,
        status=record.status,
        pages=len(record.pages),
        confidence=record.confidence,
        error=record.error,
        warnings=record.warnings,
        review_pages=[page.number for page in record.pages if page.warnings],
        duplicate_of=record.duplicate_of,
    )


def entry_of(row: int, path: str, status: str, brief: str | None) -> FileEntry:
    """A listed file from its stored row (a pending file has no brief yet)."""
    fields = json.loads(brief) if brief else {}
    return FileEntry(id=row, path=path, status=FileStatus(status), **fields)


def matched_pages(record: FileRecord, terms: tuple[str, ...]) -> list[int]:
    """The numbers of the pages that hold every one of ``terms``."""
    wanted = set(terms)
    return [page.number for page in record.pages if wanted <= set(search_terms(page.text))]


def needs_review(record: FileRecord) -> bool:
    """Whether a page of the file warns: the viewer's review filter."""
    return record.review_pages > 0
