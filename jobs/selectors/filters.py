"""Which jobs: one filter shared by the dashboard's lists, counts and bulk actions.

A ``JobFilter`` is what a person picked (queue, states, type, time range,
search text, an error group, or explicit ids). ``queryset()`` turns it into
SQL that the job table's indexes answer; bulk services (jobs.engine.bulk) run over
exactly the rows a list shows, so "retry all 3,412" means the 3,412 listed.

Search (``q``): a full job id matches that job; otherwise the text is looked
for in the payload's first SEARCH_PAYLOAD_CHARS characters and in the error
(both pg_trgm GIN indexes, case-insensitive), and a hexadecimal text of 6+
characters also matches ids starting with it (a primary-key range). Searching
needs 3 characters: trigram indexes cannot help below that.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db.models import Lookup, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Left

from jobs.core.shape import parse_job_id
from jobs.core.validation import text_problem
from jobs.core.states import JobStatus
from jobs.models import SEARCH_PAYLOAD_CHARS, JobSource, QueueJob

MIN_SEARCH_LENGTH = 3
MAX_SEARCH_LENGTH = 200
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F-]{6,36}$")


class FilterError(ValueError):
    """A filter a person typed cannot be used (shown next to the search box)."""


class ILikeContains(Lookup):
    """``lhs ILIKE '%text%'``: the form pg_trgm indexes answer (Django's icontains wraps both sides in UPPER)."""

    lookup_name = "ilike_contains"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[str]]:
        escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "%s", [f"%{escaped}%"]


def payload_text() -> Left:
    """The indexed expression (job_payload_trgm): the payload's JSON text, first characters."""
    return Left(Cast("payload", TextField()), Value(SEARCH_PAYLOAD_CHARS))


def search_condition(text: str) -> Q:
    """Rows matching the search box: by id, id prefix, payload or error text."""
    text = text.strip()
    job_id = parse_job_id(text)
    if job_id is not None:
        return Q(pk=job_id)
    if len(text) < MIN_SEARCH_LENGTH:
        raise FilterError(f"type at least {MIN_SEARCH_LENGTH} characters to search")
    if len(text) > MAX_SEARCH_LENGTH:
        raise FilterError(f"search text is limited to {MAX_SEARCH_LENGTH} characters")
    if "\x00" in text:
        raise FilterError("search text cannot contain NUL characters")
    condition = Q(ILikeContains(payload_text(), text)) | (~Q(error="") & Q(ILikeContains(Cast("error", TextField()),
                                                                                           text)))
    if _HEX_PREFIX.match(text):
        digits = text.replace("-", "").lower()
        if len(digits) <= 32:
            low = uuid.UUID(digits.ljust(32, "0"))
            high = uuid.UUID(digits.ljust(32, "f"))
            condition |= Q(pk__gte=low, pk__lte=high)
    return condition


@dataclass(frozen=True)
class JobFilter:
    queue: str | None = None
    statuses: tuple[str, ...] = ()
    type: str | None = None
    q: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: Finished before this time (the "clean" action); implies a finished state.
    finished_before: datetime | None = None
    #: Failed jobs whose error groups under this signature (the dead-letter page).
    error_signature: str | None = None
    #: Jobs a schedule fired (by its timetable or "run now"): the schedule admin links to them.
    schedule: str | None = None
    ids: tuple[uuid.UUID, ...] = field(default=())
    #: Set by ``only()`` when no state is left: the filter matches nothing.
    empty: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.statuses) - set(JobStatus.values)
        if unknown:
            raise FilterError(f"unknown state {sorted(unknown)[0]!r}")
        # Text PostgreSQL cannot store cannot be compared either: the query would fail (a 500), not match nothing.
        for name, value in (("queue", self.queue), ("type", self.type), ("q", self.q),
                            ("error", self.error_signature), ("schedule", self.schedule)):
            problem = text_problem(value) if value else None
            if problem:
                raise FilterError(f"{name}: {problem}")

    def only(self, states: frozenset[str] | set[str] | tuple[str, ...]) -> JobFilter:
        """The same filter narrowed to ``states`` (what an action may touch)."""
        allowed = tuple(s for s in (self.statuses or JobStatus.values) if s in states)
        return replace(self, statuses=allowed, empty=self.empty or not allowed)

    @property
    def simple(self) -> bool:
        """Only queue and states: the maintained counts answer it exactly (jobs.selectors.counts)."""
        return not (self.type or self.q or self.created_after or self.created_before or self.finished_before
                    or self.error_signature is not None or self.ids or self.schedule)

    def queryset(self) -> QuerySet[QueueJob]:
        jobs = QueueJob.objects.all()
        if self.empty:
            return jobs.none()
        if self.ids:
            jobs = jobs.filter(pk__in=self.ids)
        if self.queue:
            jobs = jobs.filter(queue=self.queue)
        if self.statuses:
            jobs = jobs.filter(status=self.statuses[0]) if len(self.statuses) == 1 else jobs.filter(
                status__in=self.statuses)
        if self.type:
            jobs = jobs.filter(type=self.type)
        if self.created_after:
            jobs = jobs.filter(created_at__gte=self.created_after)
        if self.created_before:
            jobs = jobs.filter(created_at__lt=self.created_before)
        if self.finished_before:
            # A job finishes after it is created, so the second condition adds nothing
            # to the result but lets created_at indexes narrow the scan.
            jobs = jobs.filter(finished_at__lt=self.finished_before, created_at__lt=self.finished_before)
        if self.error_signature is not None:
            jobs = jobs.filter(error_signature=self.error_signature)
        if self.schedule:
            jobs = jobs.filter(source=JobSource.SCHEDULE, source_detail=self.schedule)
        if self.q:
            jobs = jobs.filter(search_condition(self.q))
        return jobs

    def describe(self) -> str:
        """A short human description, for confirmations and the audit log."""
        parts = []
        if self.ids:
            parts.append(f"{len(self.ids)} selected job{'s' if len(self.ids) != 1 else ''}")
        if self.queue:
            parts.append(f"queue={self.queue}")
        if self.statuses and not self.empty:
            parts.append(f"state={','.join(self.statuses)}")
        if self.type:
            parts.append(f"type={self.type}")
        if self.error_signature is not None:
            parts.append(f"error={self.error_signature!r}")
        if self.schedule:
            parts.append(f"schedule={self.schedule}")
        if self.q:
            parts.append(f"search={self.q!r}")
        if self.created_after:
            parts.append(f"created>={self.created_after:%Y-%m-%d %H:%M:%S}")
        if self.created_before:
            parts.append(f"created<{self.created_before:%Y-%m-%d %H:%M:%S}")
        if self.finished_before:
            parts.append(f"finished<{self.finished_before:%Y-%m-%d %H:%M:%S}")
        return ", ".join(parts) or "all jobs"
