"""Keyset pages of a job list, in either direction, by creation or finish time.

Offsets skip or repeat rows while jobs arrive and get slower the deeper one
pages; a keyset cursor names the last row shown, so every row appears once
and each page is an index range scan: (created_at, id) over
``job_queue_status_created`` / ``job_created_id``, (finished_at, id) over
``job_queue_finished_id``. Cursors are opaque (base64 of sort|time|id).
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import QuerySet

from jobs.models import QueueJob

#: sort name -> (column, descending)
SORTS: dict[str, tuple[str, bool]] = {
    "-created": ("created_at", True),
    "created": ("created_at", False),
    "-finished": ("finished_at", True),
    "finished": ("finished_at", False),
}
MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    """The cursor was not made by ``encode`` for this sort order (HTTP 400 in the API)."""


@dataclass(frozen=True)
class Page:
    rows: list[QueueJob]
    next_cursor: str | None  # older rows (in the sort's direction)
    prev_cursor: str | None  # rows before the first one shown


def encode(sort: str, job: QueueJob) -> str:
    column, _ = SORTS[sort]
    raw = f"{sort}|{getattr(job, column).isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(sort: str, cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_sort, when, job_id = raw.split("|")
        if cursor_sort != sort:
            raise ValueError("cursor of another sort order")
        value = datetime.fromisoformat(when)
        if value.tzinfo is None:
            raise ValueError("naive")
        return value.astimezone(UTC), uuid.UUID(job_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("invalid cursor; pass next_cursor from the previous page unchanged") from None


def _after(jobs: QuerySet[QueueJob], column: str, descending: bool, value: datetime,
           job_id: uuid.UUID) -> QuerySet[QueueJob]:
    """Rows strictly after (value, job_id) in the given order.

    Written as "<= value, but not (= value and id >= last)" so the first
    condition is an index range (a row comparison would be too, but the ORM
    cannot write one).
    """
    if descending:
        return jobs.filter(**{f"{column}__lte": value}).exclude(**{column: value, "id__gte": job_id})
    return jobs.filter(**{f"{column}__gte": value}).exclude(**{column: value, "id__lte": job_id})


def keyset_page(jobs: QuerySet[QueueJob], *, sort: str = "-created", limit: int = 50, after: str | None = None,
                before: str | None = None) -> Page:
    """One page of ``jobs`` in ``sort`` order: the first, the one after cursor ``after``, or before ``before``."""
    if sort not in SORTS:
        raise InvalidCursor(f"unknown sort {sort!r}")
    column, descending = SORTS[sort]
    if column != "created_at":
        jobs = jobs.filter(**{f"{column}__isnull": False})
    order = [f"-{column}", "-id"] if descending else [column, "id"]
    if before:
        # Walk backwards from the cursor, then put the rows back in display order.
        value, job_id = decode(sort, before)
        reverse = [f[1:] if f.startswith("-") else f"-{f}" for f in order]
        rows = list(_after(jobs, column, not descending, value, job_id).order_by(*reverse)[: limit + 1])
        more_before = len(rows) > limit
        rows = rows[:limit][::-1]
        return Page(rows, encode(sort, rows[-1]) if rows else None,
                    encode(sort, rows[0]) if rows and more_before else None)
    if after:
        value, job_id = decode(sort, after)
        jobs = _after(jobs, column, descending, value, job_id)
    rows = list(jobs.order_by(*order)[: limit + 1])
    more_after = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode(sort, rows[-1]) if rows and more_after else None,
                encode(sort, rows[0]) if rows and after else None)
