"""The one after-commit step of every state change: hand pending jobs to Redis, then emit events.

Writers (jobs.engine.transitions, jobs.engine.attempts, jobs.engine.enqueue)
get their rows back from ``UPDATE … RETURNING j.*`` / ``INSERT`` and pass them
here; events carry each row's full public shape, so nothing is read again.
Registered with ``transaction.on_commit``: inside a transaction it runs if and
only if that transaction commits (transactional enqueue, README "Guarantees");
in autocommit it runs at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from jobs.core.states import JobStatus
from jobs.core.transport import Dispatch
from jobs.engine.dispatch import dispatch
from jobs.events.emit import emit, job_event
from jobs.models import QueueJob


def publish_on_commit(jobs: Sequence[QueueJob | Any], event: str | None) -> None:
    """After commit, dispatch those of ``jobs`` that are pending with a fresh hand-over (``rq_id``)
    in one Redis round trip, and emit ``event`` (if any) for every one of them. ``jobs`` are QueueJob
    instances or rows with the same attributes (jobs.engine.attempts reads its rows with a cursor)."""
    if not jobs:
        return
    items = [Dispatch(job.id, job.queue, job.priority, job.rq_id)
             for job in jobs if job.status == JobStatus.PENDING and job.rq_id]
    events = [job_event(event, job) for job in jobs] if event else []

    def publish() -> None:
        if items:
            dispatch(items)
        emit(events)

    transaction.on_commit(publish)
