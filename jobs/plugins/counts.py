"""Folding the job-count deltas into totals (leader only, every few seconds), and recounting.

Triggers (migration 0003) append +1/-1 rows to JobCountDelta in the
transaction that changes a job; folding moves them into JobCount and
JobThroughput so readers (jobs.selectors.counts) read a few small tables.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

#: Throughput buckets older than this are deleted by the fold.
THROUGHPUT_KEEP = timedelta(hours=24)
#: pg_try_advisory_xact_lock key: one folder at a time (two would upsert the same rows in any order).
FOLD_LOCK_KEY = 7_413_002

_FOLD_SQL = """
WITH moved AS (
    DELETE FROM jobs_jobcountdelta RETURNING queue, status, n, finished, at
), counted AS (
    INSERT INTO jobs_jobcount (queue, status, n)
    SELECT queue, status, sum(n) FROM moved GROUP BY queue, status
    ON CONFLICT (queue, status) DO UPDATE SET n = jobs_jobcount.n + EXCLUDED.n
    RETURNING 1
), finished AS (
    INSERT INTO jobs_jobthroughput (queue, minute, completed, failed, retried)
    SELECT queue, date_trunc('minute', at), coalesce(sum(n) FILTER (WHERE status = 'completed'), 0),
           coalesce(sum(n) FILTER (WHERE status = 'failed'), 0), coalesce(sum(n) FILTER (WHERE status = 'retrying'), 0)
      FROM moved WHERE finished GROUP BY 1, 2
    ON CONFLICT (queue, minute) DO UPDATE
       SET completed = jobs_jobthroughput.completed + EXCLUDED.completed,
           failed = jobs_jobthroughput.failed + EXCLUDED.failed,
           retried = jobs_jobthroughput.retried + EXCLUDED.retried
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
                "INSERT INTO jobs_jobthroughput (queue, minute, completed, failed, retried)"
                " SELECT queue, minute, sum(completed), sum(failed), sum(retried) FROM ("
                "  SELECT queue, date_trunc('minute', finished_at) AS minute,"
                "   count(*) FILTER (WHERE status = 'completed') AS completed,"
                "   count(*) FILTER (WHERE status = 'failed') AS failed, 0 AS retried FROM jobs_queuejob"
                "   WHERE status IN ('completed', 'failed') AND finished_at >= %(since)s GROUP BY 1, 2"
                "  UNION ALL"  # a failed attempt with a later one after it was retried
                "  SELECT j.queue, date_trunc('minute', a.finished_at), 0, 0, count(*)"
                "   FROM jobs_jobattempt a JOIN jobs_queuejob j ON j.id = a.job_id"
                "   WHERE a.outcome IN ('error', 'timeout', 'lost') AND a.number < j.attempts"
                "   AND a.finished_at >= %(since)s GROUP BY 1, 2"
                " ) t GROUP BY queue, minute",
                {"since": timezone.now() - THROUGHPUT_KEEP},
            )
