"""Actions over many jobs at once: retry, cancel, run now, delete — by filter or by ids.

Set-based and batched: each batch is one transaction that locks up to
BATCH_SIZE matching rows (``FOR UPDATE SKIP LOCKED``: rows a worker holds are
left alone) and changes them with one guarded UPDATE (or DELETE) whose WHERE
repeats the allowed states, so a job that changed state meanwhile is never
touched (DESIGN.md principle 3). Changed jobs leave the filter (their state
is no longer one the action applies to), so the next batch finds the next
rows. After each batch commits, its jobs go to Redis in one round trip
(``jobs.dispatch.dispatch``) and its events to the sinks (``jobs.events.emit``
queues them; its thread publishes what piled up as one batch). A 3,000-job retry is three UPDATEs, not 3,000
ORM saves.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q

from jobs.dispatch import Dispatch, dispatch
from jobs.events import emit, event_fields_of
from jobs.filters import JobFilter
from jobs.models import QueueJob
from jobs.states import CANCELLABLE_STATES, FINAL_STATES, RETRYABLE_STATES, WAITING_STATES, JobStatus
from jobs.transitions import NEW_RQ_ID

BATCH_SIZE = 1000


@dataclass(frozen=True)
class BulkAction:
    name: str
    verb: str  # past tense, for messages: "retried"
    #: States the action applies to; other matching jobs are left as they are.
    states: frozenset[str]
    #: Django permission it needs.
    permission: str

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


ACTIONS: dict[str, BulkAction] = {
    "retry": BulkAction("retry", "retried", RETRYABLE_STATES, "jobs.retry_queuejob"),
    "cancel": BulkAction("cancel", "cancelled", CANCELLABLE_STATES | {JobStatus.ACTIVE}, "jobs.cancel_queuejob"),
    "run_now": BulkAction("run_now", "started now", WAITING_STATES, "jobs.change_queuejob"),
    "delete": BulkAction("delete", "deleted", FINAL_STATES, "jobs.delete_queuejob"),
}


def _states(states: frozenset[str] | set[str]) -> list[str]:
    return sorted(str(s) for s in states)


def _in_batches(job_filter: JobFilter, states: frozenset[str] | set[str],
                apply: Callable[[list[uuid.UUID]], int], *, batch_size: int, extra: Q | None = None) -> int:
    """Run ``apply(ids)`` on batches of matching jobs in ``states``; returns how many it changed."""
    narrowed = job_filter.only(states)
    if narrowed.empty:
        return 0
    candidates = narrowed.queryset().order_by()
    if extra is not None:
        candidates = candidates.filter(extra)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(candidates.select_for_update(skip_locked=True).values_list("id", flat=True)[:batch_size])
            changed = apply(ids) if ids else 0
        total += changed
        # Fewer than a batch: nothing else matched (locked rows excepted). Nothing
        # changed: every row left was guarded out, so the next batch would be the same.
        if len(ids) < batch_size or changed == 0:
            return total


def _change(sql: str, ids: list[uuid.UUID], states: frozenset[str], event: str, *, send: bool) -> int:
    """Run a guarded UPDATE … RETURNING over ``ids`` in ``states``; after commit, hand the changed jobs
    to Redis (``send``) and emit ``event`` for each. Returns how many changed."""
    jobs = list(QueueJob.objects.raw(sql, [ids, _states(states)]))
    if jobs:
        _after_commit(jobs, event, send=send)
    return len(jobs)


def _after_commit(jobs: list[QueueJob], event: str, *, send: bool) -> None:
    items = [Dispatch(job.id, job.queue, job.priority, job.rq_id) for job in jobs] if send else []
    events = [(event, job.id, event_fields_of(job)) for job in jobs]

    def publish() -> None:
        if items:
            dispatch(items)
        for name, job_id, fields in events:  # emit() only queues; its thread publishes them as one batch
            emit(name, job_id, **fields)

    transaction.on_commit(publish)


# --- retry (requeue) ----------------------------------------------------------------

_REQUEUE_SQL = f"""
UPDATE jobs_queuejob AS j
   SET status = 'pending', finished_at = NULL, run_at = NULL, cancel_requested = false,
       max_attempts = (j.attempts - j.interruptions)
                      + COALESCE((j.retry_policy ->> 'max_attempts')::int, j.max_attempts),
       dispatched_at = now(), updated_at = now(), rq_id = {NEW_RQ_ID}
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_requeue_ids(ids: list[uuid.UUID]) -> int:
    """Requeue those of ``ids`` that are failed or cancelled (as ``job_requeue`` does, one UPDATE for all)."""
    return _change(_REQUEUE_SQL, ids, RETRYABLE_STATES, "job:enqueued", send=True)


def jobs_requeue_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Send every failed or cancelled job the filter matches round again (same ids, fresh attempts)."""
    return _in_batches(job_filter, RETRYABLE_STATES, jobs_requeue_ids, batch_size=batch_size)


# --- cancel ----------------------------------------------------------------------------

_CANCEL_SQL = """
UPDATE jobs_queuejob AS j
   SET status = 'cancelled', finished_at = now(), updated_at = now(), dispatched_at = NULL, rq_id = ''
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_cancel_ids(ids: list[uuid.UUID]) -> int:
    """Cancel those of ``ids`` still waiting; ask active ones to stop (cooperative, as ``job_cancel``)."""
    cancelled = _change(_CANCEL_SQL, ids, CANCELLABLE_STATES, "job:cancelled", send=False)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_queuejob SET cancel_requested = true, updated_at = now()"
            " WHERE id = ANY(%s) AND status = 'active' AND NOT cancel_requested",
            [ids],
        )
        return cancelled + cursor.rowcount


def jobs_cancel_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Cancel the waiting jobs the filter matches and ask its active ones to stop; returns how many."""
    waiting = _in_batches(job_filter, CANCELLABLE_STATES, jobs_cancel_ids, batch_size=batch_size)
    running = _in_batches(job_filter, {JobStatus.ACTIVE}, jobs_cancel_ids, batch_size=batch_size,
                          extra=Q(cancel_requested=False))
    return waiting + running


# --- run now (promote scheduled / retrying) -----------------------------------------

_PROMOTE_SQL = f"""
UPDATE jobs_queuejob AS j
   SET status = 'pending', run_at = NULL, dispatched_at = now(), updated_at = now(), rq_id = {NEW_RQ_ID}
 WHERE j.id = ANY(%s) AND j.status = ANY(%s)
RETURNING j.*
"""


def jobs_promote_ids(ids: list[uuid.UUID]) -> int:
    """Make those of ``ids`` that wait (scheduled, or retrying after a backoff) due now."""
    return _change(_PROMOTE_SQL, ids, WAITING_STATES, "job:enqueued", send=True)


def jobs_promote_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    return _in_batches(job_filter, WAITING_STATES, jobs_promote_ids, batch_size=batch_size)


# --- delete ----------------------------------------------------------------------------

_DELETE_SQL = """
WITH doomed AS (
    SELECT id FROM jobs_queuejob WHERE id = ANY(%s) AND status = ANY(%s) FOR UPDATE
), attempts AS (
    DELETE FROM jobs_jobattempt WHERE job_id IN (SELECT id FROM doomed)
)
DELETE FROM jobs_queuejob WHERE id IN (SELECT id FROM doomed)
"""


def jobs_delete_ids(ids: list[uuid.UUID]) -> int:
    """Delete those of ``ids`` that have finished (completed, failed, cancelled), with their attempts."""
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_SQL, [ids, _states(FINAL_STATES)])
        return cursor.rowcount


def jobs_delete_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the finished jobs the filter matches; live jobs are never deleted (cancel them first)."""
    return _in_batches(job_filter, FINAL_STATES, jobs_delete_ids, batch_size=batch_size)


RUNNERS: dict[str, Callable[..., int]] = {
    "retry": jobs_requeue_where,
    "cancel": jobs_cancel_where,
    "run_now": jobs_promote_where,
    "delete": jobs_delete_where,
}


def jobs_act_where(action: str, job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Run the named bulk action (``ACTIONS``) over the filter; returns how many jobs it changed."""
    return RUNNERS[action](job_filter, batch_size=batch_size)
