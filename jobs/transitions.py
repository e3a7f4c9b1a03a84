"""One function per state change, each a guarded UPDATE that says whether it won.

A duplicate delivery, a late retry or a second scheduler finds the job in
another state and changes nothing (DESIGN.md principle 3). The worker's hot
path (claim, finish) is two statements per job, each a single CTE; those run
with ``synchronous_commit = off`` (see README, "Guarantees": a PostgreSQL
crash may forget the last few hundred ms of worker transitions, so such a
job runs again; enqueue is always durable).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from jobs.dispatch import Dispatch, dispatch, new_rq_id
from jobs.errors import InvalidTransition
from jobs.events import emit, event_fields_of
from jobs.models import QueueJob
from jobs.retry import RetryPolicy
from jobs.states import CANCELLABLE_STATES, RETRYABLE_STATES, AttemptOutcome, JobStatus

#: Same shape as dispatch.new_rq_id(), made in SQL for set-based hand-overs.
NEW_RQ_ID = "replace(gen_random_uuid()::text, '-', '')"
_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS _async_commit"


@dataclass(frozen=True)
class Claim:
    """What a worker knows about the job it won; RETURNING fills it in one round trip."""

    job_id: uuid.UUID
    type: str
    queue: str
    priority: int
    payload: Any
    attempt: int  # number of this run
    charged: int  # runs counted against max_attempts, this one included
    max_attempts: int
    retry_policy: dict
    timeout: float
    correlation_id: str
    attempt_id: int


_CLAIM_SQL = f"""
WITH claimed AS (
    UPDATE jobs_queuejob AS j
       SET status = 'active', attempts = j.attempts + 1, started_at = COALESCE(j.started_at, now()),
           updated_at = now(), cancel_requested = false,
           progress_percent = 0, progress_stage = '', progress_message = ''
     WHERE j.id = %(id)s AND j.status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)
 RETURNING j.*
), attempt AS (
    INSERT INTO jobs_jobattempt (job_id, number, worker, pid, started_at, lease_expires_at, outcome,
                                 error_type, error_message, traceback)
    SELECT id, attempts, %(worker)s, %(pid)s, now(), now() + make_interval(secs => %(lease)s), '', '', '', ''
      FROM claimed
 RETURNING id AS attempt_id
)
SELECT claimed.*, attempt.attempt_id, {_ASYNC_COMMIT} FROM claimed, attempt
"""


def job_claim(job_id: str | uuid.UUID, *, worker: str, pid: int, lease: float) -> Claim | None:
    """Win the job (or None: someone else did, or it is no longer pending) and open its attempt.

    One statement returns the whole row, so the job:active event is built without another query.
    """
    params = {"id": job_id, "worker": worker, "pid": pid, "lease": lease}
    job = next(iter(QueueJob.objects.raw(_CLAIM_SQL, params)), None)
    if job is None:
        return None
    claim = Claim(
        job_id=job.id, type=job.type, queue=job.queue, priority=job.priority, payload=job.payload,
        attempt=job.attempts, charged=job.attempts - job.interruptions, max_attempts=job.max_attempts,
        retry_policy=job.retry_policy, timeout=job.timeout, correlation_id=job.correlation_id,
        attempt_id=job.attempt_id,
    )
    emit("job:active", claim.job_id, **event_fields_of(job))
    return claim


def job_bounce_if_paused(job_id: str | uuid.UUID, rq_id: str) -> bool:
    """A worker popped a job of a paused queue: forget this hand-over, so resume sends it again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_queuejob AS j SET dispatched_at = NULL, rq_id = ''"
            " WHERE j.id = %s AND j.status = 'pending' AND j.rq_id = %s"
            " AND EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)",
            [job_id, rq_id],
        )
        return cursor.rowcount == 1


# Guarded twice: the attempt must still be open (the lifeline may have declared
# it lost and the job may be running again elsewhere) and the job still active.
_FINISH_SQL = f"""
WITH attempt AS (
    UPDATE jobs_jobattempt
       SET finished_at = now(), outcome = %(outcome)s, duration = %(duration)s,
           error_type = %(error_type)s, error_message = %(error_message)s, traceback = %(traceback)s
     WHERE id = %(attempt_id)s AND finished_at IS NULL
 RETURNING job_id
)
UPDATE jobs_queuejob
   SET status = %(status)s, result = %(result)s, error = %(error)s, run_at = COALESCE(%(run_at)s, run_at),
       finished_at = %(finished_at)s, updated_at = now(), interruptions = interruptions + %(uncharged)s,
       progress_percent = CASE WHEN %(status)s = 'completed' THEN 100 ELSE progress_percent END,
       dispatched_at = %(dispatched_at)s, rq_id = %(rq_id)s
 WHERE id = (SELECT job_id FROM attempt) AND status = 'active' AND attempts = %(attempt)s
RETURNING progress_percent, progress_stage, progress_message, finished_at, {_ASYNC_COMMIT}
"""


def _finish(
    claim: Claim,
    *,
    outcome: AttemptOutcome,
    status: JobStatus,
    duration: float,
    result: Any = None,
    error: tuple[str, str, str] | None = None,
    run_at: datetime | None = None,
    uncharged: bool = False,
) -> dict[str, Any] | None:
    """Close the attempt and move the job; returns the row's progress and finished_at, or None if it lost."""
    error_type, error_message, tb = error or ("", "", "")
    now = timezone.now()
    final = status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
    requeue = status == JobStatus.PENDING
    params = {
        "attempt_id": claim.attempt_id,
        "attempt": claim.attempt,
        "outcome": outcome,
        "status": status,
        "duration": duration,
        "result": Jsonb(result) if result is not None else None,
        "error": f"{error_type}: {error_message}" if error else "",
        "error_type": error_type[:200],
        "error_message": error_message,
        "traceback": tb,
        "run_at": run_at,
        "finished_at": now if final else None,
        "uncharged": 1 if uncharged else 0,
        "dispatched_at": now if requeue else None,
        "rq_id": new_rq_id() if requeue else "",
    }
    with connection.cursor() as cursor:
        cursor.execute(_FINISH_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if requeue:
        dispatch([Dispatch(claim.job_id, claim.queue, claim.priority, params["rq_id"])])
    percent, stage, message, finished_at = row[:4]
    return {"progress": {"percent": percent, "stage": stage, "message": message}, "finished_at": finished_at}


def _event_fields(claim: Claim, status: JobStatus, **extra: Any) -> dict[str, Any]:
    return {"type": claim.type, "queue": claim.queue, "status": status, "attempts": claim.attempt,
            "correlation_id": claim.correlation_id, **extra}


def job_complete(claim: Claim, *, result: Any, duration: float) -> bool:
    row = _finish(claim, outcome=AttemptOutcome.COMPLETED, status=JobStatus.COMPLETED,
                  duration=duration, result=result)
    if row is not None:
        emit("job:completed", claim.job_id, **_event_fields(claim, JobStatus.COMPLETED, result=result, error=None,
                                                            **row))
    return row is not None


def after_failure(
    retry_policy: dict, *, charged: int, max_attempts: int, retryable: bool
) -> tuple[JobStatus, datetime | None]:
    """Retry after the policy's backoff while attempts are left, else the dead-letter queue."""
    policy = RetryPolicy.from_json(retry_policy)
    if retryable and policy.retryable and charged < max_attempts:
        return JobStatus.RETRYING, timezone.now() + timedelta(seconds=policy.next_delay(charged))
    return JobStatus.FAILED, None


def job_fail_attempt(
    claim: Claim,
    *,
    outcome: AttemptOutcome,
    error: tuple[str, str, str],
    duration: float,
    retryable: bool,
) -> JobStatus | None:
    """Close a failed attempt: back off and retry while attempts are left, else dead-letter."""
    status, run_at = after_failure(claim.retry_policy, charged=claim.charged, max_attempts=claim.max_attempts,
                                   retryable=retryable)
    row = _finish(claim, outcome=outcome, status=status, duration=duration, error=error, run_at=run_at)
    if row is None:
        return None
    message = f"{error[0]}: {error[1]}"
    if status == JobStatus.RETRYING:
        emit("job:retrying", claim.job_id, **_event_fields(claim, status, error=message, run_at=run_at, **row))
    else:
        emit("job:failed", claim.job_id, **_event_fields(claim, status, error=message, **row))
    return status


def job_cancel_running(claim: Claim, *, duration: float) -> bool:
    row = _finish(claim, outcome=AttemptOutcome.CANCELLED, status=JobStatus.CANCELLED, duration=duration,
                  error=("JobCancelled", "cancelled while running", ""))
    if row is not None:
        emit("job:cancelled", claim.job_id, **_event_fields(claim, JobStatus.CANCELLED, **row))
    return row is not None


def job_interrupt(claim: Claim, *, duration: float, reason: str) -> bool:
    """Put a job back after its worker had to stop it; the run is not charged."""
    row = _finish(claim, outcome=AttemptOutcome.INTERRUPTED, status=JobStatus.PENDING, duration=duration,
                  error=("WorkerShutdown", reason, ""), uncharged=True)
    return row is not None


def attempt_renew_lease(attempt_id: int, *, lease: float) -> bool:
    """Push an open attempt's lease forward; False once the attempt is closed (or was declared lost)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_jobattempt SET lease_expires_at = now() + make_interval(secs => %s)"
            " WHERE id = %s AND finished_at IS NULL",
            [lease, attempt_id],
        )
        return cursor.rowcount == 1


def job_progress(job_id: uuid.UUID, *, percent: int, stage: str, message: str) -> bool | None:
    """Store progress; returns whether cancellation was requested (None if the job is no longer active)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_queuejob SET progress_percent = %s, progress_stage = %s, progress_message = %s,"
            " progress_updated_at = now(), updated_at = now()"
            f" WHERE id = %s AND status = 'active' RETURNING cancel_requested, {_ASYNC_COMMIT}",
            [percent, stage[:100], message, job_id],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def job_cancel_requested(job_id: uuid.UUID) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cancel_requested FROM jobs_queuejob WHERE id = %s", [job_id])
        row = cursor.fetchone()
    return bool(row and row[0])


# --- Transitions asked for by people (API, admin, commands) -----------------------


def job_cancel(*, job_id: uuid.UUID) -> QueueJob:
    """Cancel a waiting job at once; ask an active one to stop (cooperative)."""
    now = timezone.now()
    won = QueueJob.objects.filter(pk=job_id, status__in=CANCELLABLE_STATES).update(
        status=JobStatus.CANCELLED, finished_at=now, updated_at=now, dispatched_at=None, rq_id=""
    )
    if not won:
        won = QueueJob.objects.filter(pk=job_id, status=JobStatus.ACTIVE).update(
            cancel_requested=True, updated_at=now
        )
        if not won:
            job = QueueJob.objects.get(pk=job_id)
            raise InvalidTransition(f"job {job_id} is {job.status}; only waiting or active jobs can be cancelled")
        return QueueJob.objects.get(pk=job_id)
    job = QueueJob.objects.get(pk=job_id)
    transaction.on_commit(lambda: emit("job:cancelled", job.id, **public_event_fields(job)))
    return job


def job_requeue(*, job_id: uuid.UUID) -> QueueJob:
    """Send a failed or cancelled job round again: same id and history, a fresh set of attempts."""
    with transaction.atomic():
        job = QueueJob.objects.select_for_update().get(pk=job_id)
        if job.status not in RETRYABLE_STATES:
            raise InvalidTransition(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        policy = RetryPolicy.from_json(job.retry_policy)
        job.max_attempts = (job.attempts - job.interruptions) + policy.max_attempts
        job.status = JobStatus.PENDING
        job.finished_at = None
        job.run_at = None
        job.cancel_requested = False
        job.dispatched_at = timezone.now()
        job.rq_id = new_rq_id()
        job.save(update_fields=["max_attempts", "status", "finished_at", "run_at", "cancel_requested",
                                "dispatched_at", "rq_id", "updated_at"])
        _dispatch_on_commit([job])
        # Back in the queue: watchers (job page, queue counts) and webhooks hear of it now, not at the next claim.
        transaction.on_commit(lambda: emit("job:enqueued", job.id, **public_event_fields(job)))
    return job


def jobs_promote_due(*, limit: int = 500) -> int:
    """Move scheduled/retrying jobs whose run_at has come to pending and dispatch them."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                SELECT id FROM jobs_queuejob
                 WHERE status IN ('scheduled', 'retrying') AND run_at <= now()
                 ORDER BY run_at LIMIT %s FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs_queuejob AS j
               SET status = 'pending', dispatched_at = now(), updated_at = now(), rq_id = {NEW_RQ_ID}
              FROM due WHERE j.id = due.id
            RETURNING j.id, j.queue, j.priority, j.rq_id
            """,
            [limit],
        )
        items = [Dispatch(*row) for row in cursor.fetchall()]
        if items:
            transaction.on_commit(lambda: dispatch(items))
    return len(items)


def jobs_dispatch_stranded(*, older_than: float = 2.0, limit: int = 1000, queue: str | None = None) -> int:
    """Dispatch pending jobs that never reached Redis (Redis was down, or their queue was paused)."""
    queue_filter = "AND j.queue = %(queue)s" if queue else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH stranded AS (
                SELECT j.id FROM jobs_queuejob j
                 WHERE j.status = 'pending' AND j.dispatched_at IS NULL
                   AND j.created_at <= now() - make_interval(secs => %(older_than)s) {queue_filter}
                   AND NOT EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)
                 ORDER BY j.created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs_queuejob AS j
               SET dispatched_at = now(), rq_id = {NEW_RQ_ID}
              FROM stranded WHERE j.id = stranded.id
            RETURNING j.id, j.queue, j.priority, j.rq_id
            """,
            {"older_than": older_than, "limit": limit, "queue": queue},
        )
        items = [Dispatch(*row) for row in cursor.fetchall()]
        if items:
            transaction.on_commit(lambda: dispatch(items))
    return len(items)


def _dispatch_on_commit(jobs: list[QueueJob]) -> None:
    items = [Dispatch(job.id, job.queue, job.priority, job.rq_id) for job in jobs]
    transaction.on_commit(lambda: dispatch(items))


def public_event_fields(job: QueueJob) -> dict[str, Any]:
    return {"type": job.type, "queue": job.queue, "status": job.status, "attempts": job.attempts,
            "correlation_id": job.correlation_id}
