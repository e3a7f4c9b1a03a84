"""The one writer of attempts' log lines: a batch of lines, any number of runs, in one statement.

Callers are the worker's progress thread (lines of running jobs, every
jobs.execution.progress.FLUSH_INTERVAL), the rqworker path's timer
(jobs.execution.run_log) and ``attempts_finish`` (a run's last lines, with its
end). A handler that logs nothing costs no statement at all.

Lines are not fenced by the attempt being open, as progress and the finish
are: they are the attempt's own output, kept for people, and the progress
thread may still be writing a run's earlier lines while its finish closes
the attempt. A line is one row per (attempt, number), so the same line
written twice (a batch retried after an error, or by both the progress thread
and the finish) is stored once; lines of an attempt that no longer exists
(its job was deleted) are skipped.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from jobs.core.log_lines import LogLine

# Committed like the worker's other writes (jobs.engine.attempts): a crash of PostgreSQL may forget the
# last few hundred ms of log lines, never a transition.
_APPEND_SQL = """
INSERT INTO jobs_joblogline (attempt_id, number, at, level, message)
SELECT l.attempt_id, l.number, l.at, l.level, l.message
  FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::text[], %s::text[])
       AS l(attempt_id, number, at, level, message)
 CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
 WHERE EXISTS (SELECT 1 FROM jobs_jobattempt a WHERE a.id = l.attempt_id)
ON CONFLICT DO NOTHING
"""


def attempt_logs_append(lines: Sequence[LogLine]) -> int:
    """Store the lines (of any number of attempts) in one statement; returns how many were new."""
    if not lines:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [[line.attempt_id for line in lines], [line.number for line in lines],
                                     [line.at for line in lines], [line.level for line in lines],
                                     [line.message for line in lines]])
        return cursor.rowcount
