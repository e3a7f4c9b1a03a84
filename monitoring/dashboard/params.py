"""Reading a job list's filter, sort and page from a request, and writing it back into links and forms."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.http import QueryDict
from django.utils import timezone

from jobs.core.states import FINAL_STATES, JobStatus
from jobs.selectors.filters import FilterError, JobFilter
from jobs.selectors.paging import SORTS

#: The time-range menu: key -> (label, seconds back from now).
TIME_RANGES: dict[str, tuple[str, int]] = {
    "15m": ("last 15 minutes", 15 * 60),
    "1h": ("last hour", 3600),
    "24h": ("last 24 hours", 86400),
    "7d": ("last 7 days", 7 * 86400),
    "30d": ("last 30 days", 30 * 86400),
}
SORT_LABELS = {"-created": "newest first", "created": "oldest first", "-finished": "finished most recently",
               "finished": "finished longest ago"}
MAX_IDS = 1000


@dataclass(frozen=True)
class ListParams:
    filter: JobFilter
    sort: str = "-created"
    after: str | None = None
    before: str | None = None
    since: str = ""

    @property
    def finished_sort_allowed(self) -> bool:
        """Finish-time order only makes sense when every listed job has finished."""
        return bool(self.filter.statuses) and set(self.filter.statuses) <= FINAL_STATES

    def pairs(self, *, absolute: bool = False, paging: bool = False) -> list[tuple[str, str]]:
        """The filter as query parameters; ``absolute`` fixes a relative time range to timestamps."""
        f = self.filter
        out: list[tuple[str, str]] = []
        if f.queue:
            out.append(("queue", f.queue))
        out += [("state", s) for s in f.statuses]
        if f.type:
            out.append(("type", f.type))
        if f.q:
            out.append(("q", f.q))
        if f.error_signature is not None:
            out.append(("error", f.error_signature))
        if f.schedule:
            out.append(("schedule", f.schedule))
        if self.since and not absolute:
            out.append(("since", self.since))
        else:
            if f.created_after:
                out.append(("from", f.created_after.isoformat()))
            if f.created_before:
                out.append(("to", f.created_before.isoformat()))
        if f.finished_before:
            out.append(("finished_before", f.finished_before.isoformat()))
        if self.sort != "-created":
            out.append(("sort", self.sort))
        if paging:
            if self.after:
                out.append(("after", self.after))
            if self.before:
                out.append(("before", self.before))
        return out

    def query(self, **changes: object) -> str:
        """Query string of these params with ``changes`` (a list repeats the key; None or "" removes it).

        Paging cursors are never carried over: a changed filter starts at its first page.
        """
        data = [(key, value) for key, value in self.pairs() if key not in changes]
        for key, value in changes.items():
            if isinstance(value, (list, tuple)):
                data += [(key, str(v)) for v in value]
            elif value not in (None, ""):
                data.append((key, str(value)))
        return urlencode(data)


def _datetime(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: not a date and time") from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def parse(data: QueryDict, *, queue: str | None = None, default_sort: str | None = None) -> ListParams:
    """ListParams from GET or POST data; raises FilterError for anything a person could have mistyped."""
    states: list[str] = []
    for raw in data.getlist("state"):
        states += [s for s in raw.split(",") if s]
    unknown = [s for s in states if s not in JobStatus.values]
    if unknown:
        raise FilterError(f"unknown state {unknown[0]!r}")
    states = sorted(set(states), key=list(JobStatus.values).index)
    since = data.get("since", "")
    created_after = created_before = finished_before = None
    if since:
        if since not in TIME_RANGES:
            raise FilterError(f"unknown time range {since!r}")
        created_after = timezone.now() - timedelta(seconds=TIME_RANGES[since][1])
    if data.get("from"):
        created_after = _datetime(data["from"], "from")
    if data.get("to"):
        created_before = _datetime(data["to"], "to")
    if data.get("finished_before"):
        finished_before = _datetime(data["finished_before"], "finished_before")
    if data.get("older_than"):  # the "clean" form: finished more than this many seconds ago
        try:
            seconds = float(data["older_than"])
        except ValueError:
            raise FilterError("older_than: not a number of seconds") from None
        if not 0 < seconds < 100 * 365 * 86400:
            raise FilterError("older_than: out of range")
        finished_before = timezone.now() - timedelta(seconds=seconds)
    ids: list[uuid.UUID] = []
    for raw in data.getlist("ids")[: MAX_IDS + 1]:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            raise FilterError(f"not a job id: {raw[:40]!r}") from None
    if len(ids) > MAX_IDS:
        raise FilterError(f"select at most {MAX_IDS} jobs, or act on the whole filter")
    job_type = (data.get("type") or "").strip()[:100] or None
    q = (data.get("q") or "").strip()
    job_filter = JobFilter(
        queue=queue or (data.get("queue") or "").strip() or None,
        statuses=tuple(states),
        type=job_type,
        q=q,
        created_after=created_after,
        created_before=created_before,
        finished_before=finished_before,
        error_signature=data["error"] if "error" in data else None,
        schedule=(data.get("schedule") or "").strip()[:100] or None,
        ids=tuple(ids),
    )
    if q:
        job_filter.queryset()  # validates the search text (length, characters) now
    params = ListParams(filter=job_filter, since=since if since and not data.get("from") else "",
                        after=data.get("after") or None, before=data.get("before") or None)
    sort = data.get("sort") or default_sort or ("-finished" if params.finished_sort_allowed else "-created")
    if sort not in SORTS:
        raise FilterError(f"unknown sort {sort!r}")
    if sort.lstrip("-") == "finished" and not params.finished_sort_allowed:
        sort = "-created"
    return replace(params, sort=sort)
