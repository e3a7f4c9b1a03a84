"""Job counts per queue and state, and finished jobs per minute, without counting rows.

Triggers on jobs_queuejob (migration 0003) append +1/-1 rows to JobCountDelta
in the transaction that changes a job; the count folder (jobs.plugins.counts,
run by the scheduler leader every few seconds) moves them into JobCount and
JobThroughput. Readers add the deltas not folded yet, so every count is exact
and as fresh as the reader's snapshot, at the cost of reading a few small
tables instead of a million rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.states import JobStatus
from jobs.selectors.filters import JobFilter


def _empty() -> dict[str, int]:
    return dict.fromkeys(JobStatus.values, 0)


def job_counts(queues: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """{queue: {state: count}} for every configured queue (and any other queue that has jobs)."""
    counts: dict[str, dict[str, int]] = {name: _empty() for name in (queues or get_config().queues)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queue, status, sum(n) FROM (SELECT queue, status, n FROM jobs_jobcount"
            " UNION ALL SELECT queue, status, n FROM jobs_jobcountdelta) c GROUP BY queue, status"
        )
        for queue, status, n in cursor.fetchall():
            if queues is None or queue in counts:
                counts.setdefault(queue, _empty())[status] = int(n)
    return counts


@dataclass(frozen=True)
class Minute:
    at: datetime
    completed: int
    #: Jobs that failed for good (into the dead-letter queue).
    failed: int
    #: Attempts that failed with another to follow (not failed jobs).
    retried: int = 0


def throughput(*, minutes: int = 60, now: datetime | None = None) -> dict[str, list[Minute]]:
    """Per queue, jobs completed and failed, and attempts retried, in each of the last ``minutes`` minutes
    (oldest first)."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT queue, minute, sum(completed), sum(failed), sum(retried) FROM (
                SELECT queue, minute, completed, failed, retried FROM jobs_jobthroughput WHERE minute >= %(start)s
                UNION ALL
                SELECT queue, date_trunc('minute', at), sum(n) FILTER (WHERE status = 'completed'),
                       sum(n) FILTER (WHERE status = 'failed'), sum(n) FILTER (WHERE status = 'retrying')
                  FROM jobs_jobcountdelta WHERE finished AND at >= %(start)s GROUP BY 1, 2
            ) t GROUP BY queue, minute
            """,
            {"start": start},
        )
        rows = cursor.fetchall()
    slots = [start + timedelta(minutes=i) for i in range(minutes)]
    found: dict[str, dict[datetime, tuple[int, int, int]]] = {}
    for queue, minute, completed, failed, retried in rows:
        found.setdefault(queue, {})[minute] = (int(completed or 0), int(failed or 0), int(retried or 0))
    names = list(get_config().queues) + [q for q in found if q not in get_config().queues]
    return {
        name: [Minute(slot, *found.get(name, {}).get(slot, (0, 0, 0))) for slot in slots]
        for name in names
    }


# --- how many jobs a filter matches -------------------------------------------------


class MatchCount(NamedTuple):
    n: int
    #: False: PostgreSQL's planner estimate, because counting exactly took too long.
    exact: bool


#: An exact count that takes longer than this is abandoned for the planner's estimate.
COUNT_BUDGET_MS = 150


def jobs_matching_count(job_filter: JobFilter, *, budget_ms: int = COUNT_BUDGET_MS) -> MatchCount:
    """Jobs ``job_filter`` matches: exact from the kept counts, or by counting within a time budget,
    else the planner's estimate (say so to the reader)."""
    if job_filter.empty:
        return MatchCount(0, True)
    if job_filter.simple:
        counts = job_counts()
        queues = [job_filter.queue] if job_filter.queue else list(counts)
        states = job_filter.statuses or tuple(JobStatus.values)
        return MatchCount(sum(counts.get(q, {}).get(s, 0) for q in queues for s in states), True)
    jobs = job_filter.queryset().order_by()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(budget_ms)}ms"])
            return MatchCount(jobs.count(), True)
    except OperationalError:  # statement_timeout: too many rows to count now
        pass
    sql, params = jobs.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return MatchCount(int(plan[0]["Plan"]["Plan Rows"]), False)
