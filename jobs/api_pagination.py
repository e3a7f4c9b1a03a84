"""Keyset pagination of job lists on (created_at, id), newest first.

Offsets skip or repeat rows while jobs are being inserted and get slower the
deeper one pages; a keyset cursor names the last row seen, so every row is
returned once and each page is an index range scan (``job_created_id``).
The cursor is opaque to clients: base64 of the last row's key.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from django.db.models import QuerySet

from jobs.models import QueueJob


#: Real cursors are ~90 characters; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    """The cursor was not made by ``encode_cursor`` (HTTP 400)."""


def encode_cursor(job: QueueJob) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        # In UTC, because PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
        return created_at.astimezone(UTC), uuid.UUID(job_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("invalid cursor; pass next_cursor from the previous page unchanged") from None


def keyset_page(jobs: QuerySet[QueueJob], *, limit: int, cursor: str | None) -> tuple[list[QueueJob], str | None]:
    """One page of ``jobs`` (ordered by -created_at, -id) after ``cursor``, and the next page's cursor."""
    jobs = jobs.order_by("-created_at", "-id")
    if cursor:
        created_at, job_id = decode_cursor(cursor)
        # Written as "<= t, but not (= t and id >= last)" so the first condition is an index range.
        jobs = jobs.filter(created_at__lte=created_at).exclude(created_at=created_at, id__gte=job_id)
    rows = list(jobs[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None
