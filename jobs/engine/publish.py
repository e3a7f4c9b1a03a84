"""The one step of every state change: its webhook deliveries in its transaction; after commit,
emit events, then hand pending jobs to Redis.

Writers (jobs.engine.transitions, jobs.engine.attempts, jobs.engine.enqueue)
get their rows back from ``UPDATE … RETURNING j.*`` / ``INSERT`` and pass them
here, inside their transaction; events carry each row's full public shape, so
nothing is read again. The webhook deliveries the events cause
(jobs.engine.deliveries) are inserted at once, in that same transaction (the
outbox: they exist if and only if the change commits). The rest is registered
with ``transaction.on_commit``: inside a transaction it runs if and only if
that transaction commits (transactional enqueue, README "Guarantees"); in
autocommit it runs at once. Writers run in ``state_change()``, a transaction
whenever deliveries may be written.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jobs.core.states import JobStatus
from jobs.core.transport import Dispatch
from jobs.engine.deliveries import delivery_jobs
from jobs.engine.dispatch import dispatch
from jobs.events.emit import JobEvent, emit, flush, job_event
from jobs.events.metrics import counts
from jobs.events.webhooks import webhooks_enabled
from jobs.models import QueueJob


def state_change() -> AbstractContextManager[Any]:
    """What a writer runs its statement and ``publish_on_commit`` in: one transaction (joining the
    caller's, if any) while webhooks are enabled, so the deliveries commit with the change; without
    webhooks the statement alone (in autocommit, the hot path's one round trip per statement)."""
    return transaction.atomic(savepoint=False) if webhooks_enabled() else nullcontext()


def publish_on_commit(jobs: Sequence[QueueJob | Any], event: str | None) -> list[JobEvent]:
    """Write the webhook deliveries of ``event`` for ``jobs`` now; after commit, dispatch those of
    ``jobs`` (and of the deliveries) that are pending with a fresh hand-over (``rq_id``) in one Redis
    round trip, and emit the events. ``jobs`` are QueueJob instances or rows with the same attributes
    (jobs.engine.attempts reads its rows with a cursor). Returns the events of ``jobs``, in order, so a
    caller that needs their public shapes (the claim) does not build them again."""
    if not jobs:
        return []
    events = [job_event(event, job) for job in jobs] if event else []
    own = list(events)
    deliveries = delivery_jobs(events, now=timezone.now()) if events else []
    if deliveries:
        if not connection.in_atomic_block:
            raise RuntimeError("publish_on_commit must run in the transaction of the state change")
        QueueJob.objects.bulk_create(deliveries)
        jobs = [*jobs, *deliveries]
        events += [job_event("job:enqueued", delivery) for delivery in deliveries]
    items = [Dispatch(job.id, job.queue, job.priority, job.rq_id)
             for job in jobs if job.status == JobStatus.PENDING and job.rq_id]
    # New jobs: those of an enqueue, and any deliveries (the claim's and the finish's own rows are not).
    created = jobs if event == "job:enqueued" else deliveries

    def publish() -> None:
        for job in created:
            counts.inc("jobs_enqueued_total", queue=job.queue, type=job.type)
        emit(events)
        if items:
            # The events are numbered before any worker can see the jobs, so whatever a worker then emits
            # numbers higher: a view ordered by sequence never shows "pending" after "active".
            flush()
            dispatch(items)

    transaction.on_commit(publish)
    return own
