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

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.errors import JobTypeError
from jobs.core.log_lines import LogLine
from jobs.core.registry import get_job_type
from jobs.core.retry import RetryPolicy
from jobs.core.shape import event_shape, job_to_dict, jsonable
from jobs.core.states import AttemptOutcome, JobStatus
from jobs.core.transport import new_rq_id
from jobs.engine.attempt_logs import attempt_logs_append
from jobs.engine.publish import publish_on_commit, state_change
from jobs.events.metrics import counts

logger = logging.getLogger(__name__)

_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS _async_commit"
#: jsonb columns of the job row; Django's connections hand jsonb over as text (JSONField decodes it).
_JSON_COLUMNS = ("payload", "result", "retry_policy")


def _job_rows(sql: str, params: Any) -> list[SimpleNamespace]:
    """Job rows of an ``UPDATE … RETURNING j.*`` as plain objects with the columns as attributes.

    The hot path reads rows this way rather than through ``QuerySet.raw``:
    building model instances (field converters, deferred-field bookkeeping)
    cost about as much Python time as PostgreSQL took for the statement. The
    rows serve everything a model instance would here (``Claim.of``, the
    events' public shape, dispatch), under the same attribute names.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        records = cursor.fetchall()
    rows = []
    for record in records:
        row = dict(zip(names, record))
        for column in _JSON_COLUMNS:
            if row.get(column) is not None:
                row[column] = json.loads(row[column])
        rows.append(SimpleNamespace(**row))
    return rows


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
    #: The job's public shape as claimed, as events carry it (jobs.core.shape.event_shape): progress
    #: events are built from it.
    shape: dict[str, Any]
    webhook_url: str = ""
    #: The enqueue span's W3C traceparent: each attempt's span is its child (jobs/core/tracing.py).
    traceparent: str = ""

    @classmethod
    def of(cls, job: Any, attempt_id: int, *, shape: dict[str, Any] | None = None) -> Claim:
        """From a job row (a QueueJob or a ``_job_rows`` row) and the attempt opened for it; ``shape``:
        the row's event shape when the caller has it already (the claim's own job:active event)."""
        return cls(
            job_id=job.id, type=job.type, queue=job.queue, priority=job.priority, payload=job.payload,
            attempt=job.attempts, charged=job.attempts - job.interruptions, max_attempts=job.max_attempts,
            retry_policy=job.retry_policy, timeout=job.timeout, correlation_id=job.correlation_id,
            attempt_id=attempt_id, shape=shape if shape is not None else event_shape(jsonable(job_to_dict(job))),
            webhook_url=job.webhook_url or "", traceparent=getattr(job, "traceparent", "") or "",
        )


_CLAIM_SQL = f"""
WITH claimed AS (
    UPDATE jobs_queuejob AS j
       SET status = 'active', attempts = j.attempts + 1, started_at = COALESCE(j.started_at, now()),
           updated_at = now(),
           progress_percent = 0, progress_stage = '', progress_message = ''
     WHERE j.id = ANY(%(ids)s::uuid[]) AND j.status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)
 RETURNING j.*
), attempt AS (
    INSERT INTO jobs_jobattempt (job_id, number, worker, pid, started_at, lease_expires_at, outcome,
                                 error_type, error_message, traceback)
    SELECT id, attempts, %(worker)s, %(pid)s, now(), now() + make_interval(secs => %(lease)s), '', '', '', ''
      FROM claimed
 RETURNING id AS attempt_id, job_id
)
SELECT claimed.*, attempt.attempt_id, {_ASYNC_COMMIT} FROM claimed JOIN attempt ON attempt.job_id = claimed.id
"""


def jobs_claim(job_ids: Sequence[str | uuid.UUID], *, worker: str, pid: int, lease: float) -> list[Claim]:
    """Win those of the jobs that are still pending (and whose queue is not paused), opening an
    attempt for each, in one statement; the others (a duplicate delivery, cancelled meanwhile,
    paused) are left alone."""
    if not job_ids:
        return []
    params = {"ids": [str(job_id) for job_id in job_ids], "worker": worker, "pid": pid, "lease": lease}
    with state_change():  # with the webhook deliveries of job:active
        jobs = _job_rows(_CLAIM_SQL, params)
        events = publish_on_commit(jobs, "job:active")
        transaction.on_commit(lambda: _count_claims(jobs))
    return [Claim.of(job, job.attempt_id, shape=event.job) for job, event in zip(jobs, events, strict=True)]


def job_claim(job_id: str | uuid.UUID, *, worker: str, pid: int, lease: float) -> Claim | None:
    """Win one job, or None (someone else did, it is no longer pending, or its queue is paused)."""
    claims = jobs_claim([job_id], worker=worker, pid=pid, lease=lease)
    return claims[0] if claims else None


@dataclass(frozen=True)
class Finish:
    """How one run ended: what ``attempts_finish`` writes (a worker may write many in one statement)."""

    claim: Claim
    outcome: AttemptOutcome
    status: JobStatus
    duration: float
    result: Any = None
    error: tuple[str, str, str] | None = None  # type, message, traceback
    run_at: datetime | None = None
    uncharged: bool = False
    #: The run's last reported (percent, stage, message), written with the finish: the row shows
    #: where the handler stopped.
    progress: tuple[int, str, str] | None = None
    #: The run's log lines not written yet, and the marker of those dropped past the cap
    #: (jobs.execution.run_log): written just before the finish, so a job that ended has its whole log.
    log: tuple[LogLine, ...] = ()


#: A run that would go round again (put back ``pending`` by a shutdown, ``retrying`` after an error or a
#: lost lease) ends its job ``cancelled`` when a cancel was requested while it ran: whichever path ends
#: the attempt (the worker, the rqworker path, the lifeline) honours the request.
_NEW_STATUS = ("(CASE WHEN j.cancel_requested AND c.status IN ('pending', 'retrying') THEN 'cancelled'"
               " ELSE c.status END)")

# Guarded twice: the attempt must still be open (the lifeline may have declared
# it lost and the job may be running again elsewhere) and the job still active
# in that attempt: a run that lost its job can write nothing.
_FINISH_SQL = f"""
WITH f AS (
    SELECT * FROM unnest(%(attempt_id)s::bigint[], %(attempt)s::int[], %(outcome)s::text[], %(status)s::text[],
                         %(duration)s::float8[], %(result)s::text[], %(error)s::text[], %(error_type)s::text[],
                         %(error_message)s::text[], %(traceback)s::text[], %(run_at)s::timestamptz[],
                         %(uncharged)s::int[], %(rq_id)s::text[], %(percent)s::int[], %(stage)s::text[],
                         %(message)s::text[])
        AS f(attempt_id, attempt, outcome, status, duration, result, error, error_type, error_message, traceback,
             run_at, uncharged, rq_id, percent, stage, message)
), closed AS (
    UPDATE jobs_jobattempt AS a
       SET finished_at = now(), outcome = f.outcome, duration = f.duration,
           error_type = f.error_type, error_message = f.error_message, traceback = f.traceback
      FROM f
     WHERE a.id = f.attempt_id AND a.finished_at IS NULL
 RETURNING a.job_id, f.*
)
UPDATE jobs_queuejob AS j
   SET status = {_NEW_STATUS}, result = c.result::jsonb, error = c.error,
       run_at = CASE WHEN {_NEW_STATUS} = 'cancelled' THEN j.run_at ELSE COALESCE(c.run_at, j.run_at) END,
       finished_at = CASE WHEN {_NEW_STATUS} IN ('completed', 'failed', 'cancelled') THEN now() END,
       updated_at = now(), interruptions = j.interruptions + c.uncharged,
       progress_percent = CASE WHEN c.status = 'completed' THEN 100 ELSE COALESCE(c.percent, j.progress_percent) END,
       progress_stage = COALESCE(c.stage, j.progress_stage), progress_message = COALESCE(c.message, j.progress_message),
       dispatched_at = CASE WHEN {_NEW_STATUS} = 'pending' THEN now() END,
       rq_id = CASE WHEN {_NEW_STATUS} = 'pending' THEN c.rq_id ELSE '' END
  FROM closed AS c
 WHERE j.id = c.job_id AND j.status = 'active' AND j.attempts = c.attempt
RETURNING j.*, {_ASYNC_COMMIT}
"""

_EVENTS = {JobStatus.COMPLETED: "job:completed", JobStatus.FAILED: "job:failed", JobStatus.RETRYING: "job:retrying",
           JobStatus.CANCELLED: "job:cancelled", JobStatus.PENDING: None}


def attempts_finish(finishes: Sequence[Finish]) -> list[SimpleNamespace]:
    """Close the attempts and move their jobs, all in one statement; returns the rows that moved.

    The one writer of a run's end (the worker's finisher, the rqworker path and
    the lifeline): a run that no longer owns its job is left out. Jobs put back
    ``pending`` are dispatched again, every other end is announced. A job whose
    cancel was requested while it ran is not sent round again: it ends
    ``cancelled`` (_NEW_STATUS), so the request survives the worker's death.
    """
    if not finishes:
        return []
    columns: dict[str, list[Any]] = {name: [] for name in (
        "attempt_id", "attempt", "outcome", "status", "duration", "result", "error", "error_type", "error_message",
        "traceback", "run_at", "uncharged", "rq_id", "percent", "stage", "message")}
    for finish in finishes:
        error_type, error_message, tb = finish.error or ("", "", "")
        requeue = finish.status == JobStatus.PENDING
        row = {
            "attempt_id": finish.claim.attempt_id, "attempt": finish.claim.attempt, "outcome": str(finish.outcome),
            "status": str(finish.status), "duration": finish.duration,
            "result": None if finish.result is None else json.dumps(finish.result),
            "error": f"{error_type}: {error_message}" if finish.error else "", "error_type": error_type[:200],
            "error_message": error_message, "traceback": tb, "run_at": finish.run_at,
            "uncharged": 1 if finish.uncharged else 0, "rq_id": new_rq_id(finish.claim.job_id) if requeue else "",
            "percent": finish.progress[0] if finish.progress else None,
            "stage": finish.progress[1][:100] if finish.progress else None,
            "message": finish.progress[2] if finish.progress else None,
        }
        for name, value in row.items():
            columns[name].append(value)
    with state_change():  # with the webhook deliveries of the ends
        attempt_logs_append([line for finish in finishes for line in finish.log])  # no statement if none
        jobs = _job_rows(_FINISH_SQL, columns)
        by_event: dict[str | None, list[SimpleNamespace]] = {}
        for job in jobs:
            by_event.setdefault(_EVENTS[JobStatus(job.status)], []).append(job)
        for event, group in by_event.items():
            publish_on_commit(group, event)
        transaction.on_commit(lambda: _count_finishes(jobs, finishes))
    return jobs


def _count_claims(jobs: list[SimpleNamespace]) -> None:
    """How long each claimed job waited: from when it was due (its run_at, else its creation) to its start."""
    for job in jobs:
        due = job.run_at or job.created_at
        counts.observe("job_wait_seconds", (job.updated_at - due).total_seconds(), queue=job.queue, type=job.type)


def _count_finishes(jobs: list[SimpleNamespace], finishes: Sequence[Finish]) -> None:
    """Each run that ended (only those that still owned their job: the rows the finish moved)."""
    by_job = {finish.claim.job_id: finish for finish in finishes}
    for job in jobs:
        finish = by_job[job.id]
        counts.inc("jobs_processed_total", queue=job.queue, type=job.type, outcome=str(finish.outcome))
        counts.observe("job_duration_seconds", finish.duration, queue=job.queue, type=job.type)
        if job.status == JobStatus.FAILED:
            counts.inc("jobs_failed_total", queue=job.queue, type=job.type)


def run_policy(claim: Claim) -> RetryPolicy:
    """The policy snapshotted on the row at enqueue (jobs.engine.build).

    A row written around the enqueue services (by hand, or by an older
    version) may have none, or one that no longer reads. It then gets its
    type's policy as it is now, else its queue's, else the defaults: a failed
    run must never raise here, or the lifeline's batch that holds it would roll
    back on every tick and no lost job would ever be rescued.
    """
    try:
        return RetryPolicy.from_json(claim.retry_policy)
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("event=retry_policy_unreadable job=%s error=%r", claim.job_id, exc)
    try:
        return get_job_type(claim.type).retry_policy()
    except JobTypeError:
        queue = get_config().queues.get(claim.queue)
        return queue.retry if queue is not None else RetryPolicy(max_attempts=max(claim.max_attempts, 1))


def failed_run(claim: Claim, outcome: AttemptOutcome, error: tuple[str, str, str], duration: float, *,
               retryable: bool) -> Finish:
    """The Finish of a failed run (error, timeout, lost): retried after the policy's backoff while attempts
    are left, else dead-lettered."""
    policy = run_policy(claim)
    if retryable and policy.retryable and claim.charged < claim.max_attempts:
        run_at = timezone.now() + timedelta(seconds=policy.next_delay(claim.charged))
        return Finish(claim, outcome, JobStatus.RETRYING, duration, error=error, run_at=run_at)
    return Finish(claim, outcome, JobStatus.FAILED, duration, error=error)


def attempts_renew(attempt_ids: Sequence[int], *, lease: float) -> set[int]:
    """Push the leases of a process's running attempts forward in one statement; returns those renewed.

    An attempt left out is closed: the lifeline declared it lost (its worker
    was cut off from PostgreSQL for longer than the lease), and its run must
    stop (fencing: jobs.execution.lease).
    """
    if not attempt_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_jobattempt SET lease_expires_at = now() + make_interval(secs => %s)"
            " WHERE id = ANY(%s) AND finished_at IS NULL RETURNING id",
            [lease, list(attempt_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


_PROGRESS_SQL = f"""
UPDATE jobs_queuejob AS j
   SET progress_percent = p.percent, progress_stage = p.stage, progress_message = p.message,
       progress_updated_at = now(), updated_at = now()
  FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::text[], %s::text[]) AS p(id, attempt, percent, stage, message)
 WHERE j.id = p.id AND j.status = 'active' AND j.attempts = p.attempt
RETURNING j.id, j.cancel_requested, {_ASYNC_COMMIT}
"""


def jobs_progress(updates: Sequence[tuple[Claim, int, str, str]]) -> dict[uuid.UUID, bool]:
    """Store many runs' progress in one statement; per job whose run still owns it, whether a cancel
    was requested (a run declared lost is left out: guarded by the attempt number)."""
    if not updates:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_PROGRESS_SQL, [[str(c.job_id) for c, *_ in updates], [c.attempt for c, *_ in updates],
                                       [p for _, p, _, _ in updates], [s[:100] for _, _, s, _ in updates],
                                       [m for *_, m in updates]])
        return {row[0]: row[1] for row in cursor.fetchall()}


def jobs_cancel_requested(job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the jobs someone asked to stop."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM jobs_queuejob WHERE id = ANY(%s) AND cancel_requested", [list(job_ids)])
        return {row[0] for row in cursor.fetchall()}


def job_progress(claim: Claim, *, percent: int, stage: str, message: str) -> bool | None:
    """Store one run's progress: whether a cancel was requested, None if this run no longer owns the job."""
    return jobs_progress([(claim, percent, stage, message)]).get(claim.job_id)


def job_cancel_requested(job_id: uuid.UUID) -> bool:
    return job_id in jobs_cancel_requested([job_id])
