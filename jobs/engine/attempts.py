"""A worker's transitions: claim opens an attempt, finish closes it; progress and lease in between.

The hot path is two statements per job, each a single CTE: the claim (guarded
UPDATE of the job plus the attempt INSERT) and the finish (attempt and job in
one statement, guarded by the attempt: it must still be open, so a run the
lifeline declared lost cannot write its outcome). Both return the whole row,
so their events need no query. They run with ``synchronous_commit = off``
(README, "Guarantees": a PostgreSQL crash may forget the last few hundred ms
of worker transitions, so such a job runs again; enqueue is always durable).
The lifeline (jobs.plugins.lifeline) closes lost attempts with the same finish.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from jobs.core.retry import RetryPolicy
from jobs.core.shape import job_to_dict, jsonable
from jobs.core.states import AttemptOutcome, JobStatus
from jobs.core.transport import new_rq_id
from jobs.engine.publish import publish_on_commit
from jobs.models import QueueJob

_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS _async_commit"


@dataclass(frozen=True)
class Claim:
    """What a worker knows about the run it won; RETURNING fills it in one round trip."""

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
    #: The job's public shape as claimed (JSON-ready): progress events are built from it.
    shape: dict[str, Any]
    webhook_url: str = ""

    @classmethod
    def of(cls, job: QueueJob, attempt_id: int) -> Claim:
        return cls(
            job_id=job.id, type=job.type, queue=job.queue, priority=job.priority, payload=job.payload,
            attempt=job.attempts, charged=job.attempts - job.interruptions, max_attempts=job.max_attempts,
            retry_policy=job.retry_policy, timeout=job.timeout, correlation_id=job.correlation_id,
            attempt_id=attempt_id, shape=jsonable(job_to_dict(job)), webhook_url=job.webhook_url or "",
        )


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
    """Win the job (or None: someone else did, or it is no longer pending, or its queue is paused)
    and open its attempt."""
    params = {"id": job_id, "worker": worker, "pid": pid, "lease": lease}
    job = next(iter(QueueJob.objects.raw(_CLAIM_SQL, params)), None)
    if job is None:
        return None
    publish_on_commit([job], "job:active")
    return Claim.of(job, job.attempt_id)


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
UPDATE jobs_queuejob AS j
   SET status = %(status)s, result = %(result)s, error = %(error)s, run_at = COALESCE(%(run_at)s, run_at),
       finished_at = %(finished_at)s, updated_at = now(), interruptions = interruptions + %(uncharged)s,
       progress_percent = CASE WHEN %(status)s = 'completed' THEN 100 ELSE progress_percent END,
       dispatched_at = %(dispatched_at)s, rq_id = %(rq_id)s
 WHERE id = (SELECT job_id FROM attempt) AND status = 'active' AND attempts = %(attempt)s
RETURNING j.*, {_ASYNC_COMMIT}
"""

_EVENTS = {JobStatus.COMPLETED: "job:completed", JobStatus.FAILED: "job:failed", JobStatus.RETRYING: "job:retrying",
           JobStatus.CANCELLED: "job:cancelled", JobStatus.PENDING: None}


def attempt_finish(
    claim: Claim,
    *,
    outcome: AttemptOutcome,
    status: JobStatus,
    duration: float,
    result: Any = None,
    error: tuple[str, str, str] | None = None,
    run_at: datetime | None = None,
    uncharged: bool = False,
) -> QueueJob | None:
    """Close the attempt and move the job; the row, or None if this run no longer owns the job.

    The one writer of an attempt's end (worker and lifeline): a job put back
    ``pending`` is dispatched again, and every other end is announced.
    """
    error_type, error_message, tb = error or ("", "", "")
    now = timezone.now()
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
        "finished_at": now if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED) else None,
        "uncharged": 1 if uncharged else 0,
        "dispatched_at": now if requeue else None,
        "rq_id": new_rq_id() if requeue else "",
    }
    job = next(iter(QueueJob.objects.raw(_FINISH_SQL, params)), None)
    if job is not None:
        publish_on_commit([job], _EVENTS[status])
    return job


def after_failure(
    retry_policy: dict, *, charged: int, max_attempts: int, retryable: bool
) -> tuple[JobStatus, datetime | None]:
    """Retry after the policy's backoff while attempts are left, else the dead-letter queue."""
    policy = RetryPolicy.from_json(retry_policy)
    if retryable and policy.retryable and charged < max_attempts:
        return JobStatus.RETRYING, timezone.now() + timedelta(seconds=policy.next_delay(charged))
    return JobStatus.FAILED, None


def job_complete(claim: Claim, *, result: Any, duration: float) -> bool:
    return attempt_finish(claim, outcome=AttemptOutcome.COMPLETED, status=JobStatus.COMPLETED, duration=duration,
                          result=result) is not None


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
    job = attempt_finish(claim, outcome=outcome, status=status, duration=duration, error=error, run_at=run_at)
    return None if job is None else status


def job_cancel_running(claim: Claim, *, duration: float) -> bool:
    return attempt_finish(claim, outcome=AttemptOutcome.CANCELLED, status=JobStatus.CANCELLED, duration=duration,
                          error=("JobCancelled", "cancelled while running", "")) is not None


def job_interrupt(claim: Claim, *, duration: float, reason: str) -> bool:
    """Put a job back after its worker had to stop it; the run is not charged."""
    return attempt_finish(claim, outcome=AttemptOutcome.INTERRUPTED, status=JobStatus.PENDING, duration=duration,
                          error=("WorkerShutdown", reason, ""), uncharged=True) is not None


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
