"""State changes asked for by people and by the maintenance plugins: one writer each, over sets of ids.

Each function is one guarded ``UPDATE … WHERE j.id = ANY(%s) AND j.status =
ANY(<allowed>) RETURNING j.*``: a job that is no longer in an allowed state
is left alone, so a duplicate request, a late retry or a second scheduler
changes nothing (docs/architecture.md, "One writer per transition"). The
single-job API, the dashboard's
bulk actions (jobs.engine.bulk), the stager and the reconciler all call
these; the rows they return go to the one after-commit step
(jobs.engine.publish), which dispatches and emits with no second read.
A worker's own transitions (claim, finish, progress) are jobs.engine.attempts.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from django.db import connection, transaction

from jobs.core.errors import InvalidTransition
from jobs.core.states import (
    CANCELLABLE_STATES,
    FINAL_STATES,
    RETRYABLE_STATES,
    WAITING_STATES,
    JobStatus,
)
from jobs.core.transport import NEW_RQ_ID_SQL
from jobs.engine.publish import publish_on_commit, state_change
from jobs.models import QueueJob


def _states(states: Iterable[str]) -> list[str]:
    return sorted(str(s) for s in states)


def _update(sql: str, ids: Sequence[uuid.UUID], states: Iterable[str], event: str | None) -> list[QueueJob]:
    """Run a guarded ``UPDATE … RETURNING j.*`` over ``ids`` in ``states``; publish the rows on commit
    (their webhook deliveries written in the same transaction)."""
    with state_change():
        rows = list(QueueJob.objects.raw(sql, [list(ids), _states(states)]))
        publish_on_commit(rows, event)
    return rows


_CANCEL_SQL = """
UPDATE jobs_queuejob AS j
   SET status = 'cancelled', finished_at = now(), updated_at = now(), dispatched_at = NULL, rq_id = ''
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_cancel(ids: Sequence[uuid.UUID]) -> list[QueueJob]:
    """Cancel those of ``ids`` that wait (pending, scheduled, retrying); returns the cancelled rows."""
    return _update(_CANCEL_SQL, ids, CANCELLABLE_STATES, "job:cancelled")


_REQUEST_CANCEL_SQL = """
UPDATE jobs_queuejob AS j SET cancel_requested = true, updated_at = now()
 WHERE j.id = ANY(%s) AND j.status = ANY(%s) AND NOT j.cancel_requested
RETURNING j.*
"""


def jobs_request_cancel(ids: Sequence[uuid.UUID]) -> list[QueueJob]:
    """Ask those of ``ids`` that run to stop (cooperative: the handler's context reports it)."""
    return _update(_REQUEST_CANCEL_SQL, ids, {JobStatus.ACTIVE}, None)


_REQUEUE_SQL = f"""
UPDATE jobs_queuejob AS j
   SET status = 'pending', finished_at = NULL, run_at = NULL, cancel_requested = false,
       max_attempts = (j.attempts - j.interruptions)
                      + COALESCE((j.retry_policy ->> 'max_attempts')::int, j.max_attempts),
       dispatched_at = now(), updated_at = now(), rq_id = {NEW_RQ_ID_SQL}
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_requeue(ids: Sequence[uuid.UUID]) -> list[QueueJob]:
    """Send failed or cancelled jobs round again: same id and history, a fresh set of attempts."""
    return _update(_REQUEUE_SQL, ids, RETRYABLE_STATES, "job:enqueued")


_PROMOTE_SQL = f"""
UPDATE jobs_queuejob AS j
   SET status = 'pending', dispatched_at = now(), updated_at = now(), rq_id = {NEW_RQ_ID_SQL},
       run_at = CASE WHEN j.run_at <= now() THEN j.run_at END  -- kept when it came due; cleared when run early
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_promote(ids: Sequence[uuid.UUID], *, announce: bool = True) -> list[QueueJob]:
    """Make waiting jobs (scheduled, or retrying after a backoff) pending now and dispatch them.

    ``announce=False`` (the stager's routine promotions) dispatches without an event.
    """
    return _update(_PROMOTE_SQL, ids, WAITING_STATES, "job:enqueued" if announce else None)


_HANDOVER_SQL = f"""
UPDATE jobs_queuejob AS j SET rq_id = {NEW_RQ_ID_SQL}, dispatched_at = now()
  FROM unnest(%s::uuid[], %s::text[]) AS h(id, rq_id)
 WHERE j.id = h.id AND j.rq_id = h.rq_id AND j.status = 'pending'
RETURNING j.*
"""


def jobs_handover(handovers: Sequence[tuple[uuid.UUID, str]]) -> list[QueueJob]:
    """Dispatch pending jobs again under a fresh RQ id: ``(job id, rq id it has now)`` pairs.

    Guarded by the current rq id ('' for a job never handed over), so a
    hand-over that happened meanwhile is not repeated.
    """
    if not handovers:
        return []
    rows = list(QueueJob.objects.raw(_HANDOVER_SQL, [[job_id for job_id, _ in handovers],
                                                    [rq_id for _, rq_id in handovers]]))
    publish_on_commit(rows, None)
    return rows


_DELETE_SQL = """
WITH doomed AS (
    SELECT id FROM jobs_queuejob WHERE id = ANY(%s) AND status = ANY(%s) FOR UPDATE
), log_lines AS (
    DELETE FROM jobs_joblogline
     WHERE attempt_id IN (SELECT id FROM jobs_jobattempt WHERE job_id IN (SELECT id FROM doomed))
), attempts AS (
    DELETE FROM jobs_jobattempt WHERE job_id IN (SELECT id FROM doomed)
)
DELETE FROM jobs_queuejob WHERE id IN (SELECT id FROM doomed)
"""


def jobs_delete(ids: Sequence[uuid.UUID]) -> int:
    """Delete those of ``ids`` that have finished, with their attempts and the attempts' log lines; live jobs
    are never deleted."""
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_SQL, [list(ids), _states(FINAL_STATES)])
        return cursor.rowcount


# --- the maintenance plugins' selections (then the writers above) --------------------


def jobs_promote_due(*, limit: int = 500) -> int:
    """Promote scheduled/retrying jobs whose run_at has come (the stager, every tick)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM jobs_queuejob WHERE status IN ('scheduled', 'retrying') AND run_at <= now()"
            " ORDER BY run_at LIMIT %s FOR UPDATE SKIP LOCKED",
            [limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
        return len(jobs_promote(ids, announce=False)) if ids else 0


def jobs_dispatch_stranded(*, older_than: float = 2.0, limit: int = 1000, queue: str | None = None) -> int:
    """Dispatch pending jobs that never reached Redis (Redis was down, or their queue was paused)."""
    queue_filter = "AND j.queue = %(queue)s" if queue else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT j.id, j.rq_id FROM jobs_queuejob j
             WHERE j.status = 'pending' AND j.dispatched_at IS NULL
               AND j.created_at <= now() - make_interval(secs => %(older_than)s) {queue_filter}
               AND NOT EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)
             ORDER BY j.created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            """,
            {"older_than": older_than, "limit": limit, "queue": queue},
        )
        return len(jobs_handover(cursor.fetchall()))


# --- one job, for the API, the dashboard's job page and the commands ------------------


def job_cancel(*, job_id: uuid.UUID) -> QueueJob:
    """Cancel a waiting job at once; ask an active one to stop. InvalidTransition when it has finished."""
    rows = jobs_cancel([job_id]) or jobs_request_cancel([job_id])
    if rows:
        return rows[0]
    job = QueueJob.objects.get(pk=job_id)
    if job.status == JobStatus.ACTIVE:  # asked before: nothing more to do
        return job
    raise InvalidTransition(f"job {job_id} is {job.status}; only waiting or active jobs can be cancelled")


def job_requeue(*, job_id: uuid.UUID) -> QueueJob:
    """Send a failed or cancelled job round again. InvalidTransition for any other state."""
    rows = jobs_requeue([job_id])
    if rows:
        return rows[0]
    job = QueueJob.objects.get(pk=job_id)
    raise InvalidTransition(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
