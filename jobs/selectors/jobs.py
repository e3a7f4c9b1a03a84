"""Reads of jobs and attempts: what the API, the commands and the dashboard ask for."""
from __future__ import annotations

import uuid

from django.db.models import QuerySet

from jobs.core.shape import parse_job_id
from jobs.models import JobAttempt, QueueJob
from jobs.selectors.filters import JobFilter


def job_get(job_id: str | uuid.UUID) -> QueueJob | None:
    """The job, or None for an unknown or malformed id."""
    parsed = parse_job_id(job_id)
    if parsed is None:
        return None
    return QueueJob.objects.filter(pk=parsed).first()


#: The shortest id prefix looked up (the dashboard shows the first 8 characters).
MIN_ID_PREFIX = 6


def jobs_with_id_prefix(prefix: str, *, limit: int = 5) -> list[QueueJob]:
    """Jobs whose id starts with ``prefix`` (hex digits, dashes ignored), at most ``limit``: an index
    range on the primary key, whatever the table's size. Empty for anything that is not such a prefix."""
    digits = prefix.strip().replace("-", "").lower()
    if not MIN_ID_PREFIX <= len(digits) <= 32 or any(c not in "0123456789abcdef" for c in digits):
        return []
    low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
    return list(QueueJob.objects.filter(pk__gte=low, pk__lte=high).order_by("pk")[:limit])


def jobs_named(text: str, *, limit: int = 5) -> list[QueueJob]:
    """The job a person means by ``text``: the one with that id, else those whose id starts with it
    (the dashboard's search box and the commands; more than one means the prefix is ambiguous)."""
    job = job_get(text)
    return [job] if job is not None else jobs_with_id_prefix(text, limit=limit)


def job_list(
    *,
    status: str | None = None,
    queue: str | None = None,
    type: str | None = None,
    q: str | None = None,
) -> QuerySet[QueueJob]:
    """Jobs matching every given filter, newest first; ``q`` is the dashboard's search
    (jobs.selectors.filters: id, id prefix, payload or error text; FilterError when too short)."""
    job_filter = JobFilter(queue=queue or None, statuses=(status,) if status else (), type=type or None,
                           q=(q or "").strip())
    return job_filter.queryset().order_by("-created_at", "-id")


def job_attempts(job: QueueJob) -> QuerySet[JobAttempt]:
    return job.attempt_set.order_by("number")
