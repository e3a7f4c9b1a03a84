"""Job counts per queue and state, and finished jobs per minute, without counting rows.

Triggers on jobs_queuejob (migration 0003) append +1/-1 rows to JobCountDelta
in the transaction that changes a job; ``job_counts_fold`` (run by the
scheduler leader every few seconds) moves them into JobCount and
JobThroughput. Readers add the deltas not folded yet, so every count is exact
and as fresh as the reader's snapshot, at the cost of reading a few small
tables instead of a million rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from jobs.conf import get_config
from jobs.states import JobStatus

if TYPE_CHECKING:
    from jobs.filters import JobFilter

#: Throughput buckets older than this are deleted by the fold.
THROUGHPUT_KEEP = timedelta(hours=24)
#: pg_try_advisory_xact_lock key: one folder at a time (two would upsert the same rows in any order).
FOLD_LOCK_KEY = 7_413_002


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
    failed: int


def throughput(*, minutes: int = 60, now: datetime | None = None) -> dict[str, list[Minute]]:
    """Per queue, jobs completed and failed in each of the last ``minutes`` minutes (oldest first)."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT queue, minute, sum(completed), sum(failed) FROM (
                SELECT queue, minute, completed, failed FROM jobs_jobthroughput WHERE minute >= %(start)s
                UNION ALL
                SELECT queue, date_trunc('minute', at), sum(n) FILTER (WHERE status = 'completed'),
                       sum(n) FILTER (WHERE status = 'failed')
                  FROM jobs_jobcountdelta WHERE finished AND at >= %(start)s GROUP BY 1, 2
            ) t GROUP BY queue, minute
            """,
            {"start": start},
        )
        rows = cursor.fetchall()
    slots = [start + timedelta(minutes=i) for i in range(minutes)]
    found: dict[str, dict[datetime, tuple[int, int]]] = {}
    for queue, minute, completed, failed in rows:
        found.setdefault(queue, {})[minute] = (int(completed or 0), int(failed or 0))
    names = list(get_config().queues) + [q for q in found if q not in get_config().queues]
    return {
        name: [Minute(slot, *found.get(name, {}).get(slot, (0, 0))) for slot in slots]
        for name in names
    }


_FOLD_SQL = """
WITH moved AS (
    DELETE FROM jobs_jobcountdelta RETURNING queue, status, n, finished, at
), counted AS (
    INSERT INTO jobs_jobcount (queue, status, n)
    SELECT queue, status, sum(n) FROM moved GROUP BY queue, status
    ON CONFLICT (queue, status) DO UPDATE SET n = jobs_jobcount.n + EXCLUDED.n
    RETURNING 1
), finished AS (
    INSERT INTO jobs_jobthroughput (queue, minute, completed, failed)
    SELECT queue, date_trunc('minute', at), coalesce(sum(n) FILTER (WHERE status = 'completed'), 0),
           coalesce(sum(n) FILTER (WHERE status = 'failed'), 0)
      FROM moved WHERE finished GROUP BY 1, 2
    ON CONFLICT (queue, minute) DO UPDATE
       SET completed = jobs_jobthroughput.completed + EXCLUDED.completed,
           failed = jobs_jobthroughput.failed + EXCLUDED.failed
    RETURNING 1
)
SELECT count(*) FROM moved
"""


def job_counts_fold() -> int:
    """Fold pending deltas into the totals; returns how many delta rows were folded (0 if another folds)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(_FOLD_SQL)
        folded = cursor.fetchone()[0]
        cursor.execute("DELETE FROM jobs_jobthroughput WHERE minute < %s", [timezone.now() - THROUGHPUT_KEEP])
    return folded


def job_counts_rebuild(*, throughput_from_rows: bool = False) -> None:
    """Recount from the job table (repair, or after a bulk load); blocks job writes meanwhile.

    With ``throughput_from_rows`` the last day's throughput is rebuilt from the
    jobs' finish times too (a generated history has no transitions to count).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE jobs_queuejob IN SHARE MODE")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK_KEY])
        cursor.execute("DELETE FROM jobs_jobcountdelta")
        cursor.execute("DELETE FROM jobs_jobcount")
        cursor.execute("INSERT INTO jobs_jobcount (queue, status, n)"
                       " SELECT queue, status, count(*) FROM jobs_queuejob GROUP BY queue, status")
        if throughput_from_rows:
            cursor.execute("DELETE FROM jobs_jobthroughput")
            cursor.execute(
                "INSERT INTO jobs_jobthroughput (queue, minute, completed, failed)"
                " SELECT queue, date_trunc('minute', finished_at), count(*) FILTER (WHERE status = 'completed'),"
                " count(*) FILTER (WHERE status = 'failed') FROM jobs_queuejob"
                " WHERE status IN ('completed', 'failed') AND finished_at >= %s GROUP BY 1, 2",
                [timezone.now() - THROUGHPUT_KEEP],
            )


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
