"""Actions over many jobs at once: retry, cancel, run now, delete — by filter or by ids.

Batched on top of the set-based writers (jobs.engine.transitions): each batch
is one transaction that locks up to BATCH_SIZE matching rows (``FOR UPDATE
SKIP LOCKED``: rows a worker holds are left alone) and hands their ids to the
writer, whose guard repeats the allowed states, so a job that changed state
meanwhile is never touched. Changed jobs leave the filter (their state is no
longer one the action applies to), so the next batch finds the next rows.
After each batch commits its jobs go to Redis in one round trip and its
events out as one batch (jobs.engine.publish): a 3,000-job retry is three
UPDATEs, not 3,000 ORM saves.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from jobs.core import permissions
from jobs.core.states import CANCELLABLE_STATES, FINAL_STATES, RETRYABLE_STATES, WAITING_STATES, JobStatus
from jobs.engine.transitions import jobs_cancel, jobs_delete, jobs_promote, jobs_request_cancel, jobs_requeue
from jobs.selectors.filters import JobFilter

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
    "retry": BulkAction("retry", "retried", RETRYABLE_STATES, permissions.RETRY),
    "cancel": BulkAction("cancel", "cancelled", CANCELLABLE_STATES | {JobStatus.ACTIVE}, permissions.CANCEL),
    "run_now": BulkAction("run_now", "started now", WAITING_STATES, permissions.CHANGE),
    "delete": BulkAction("delete", "deleted", FINAL_STATES, permissions.DELETE),
}


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


def jobs_requeue_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Send every failed or cancelled job the filter matches round again (same ids, fresh attempts)."""
    return _in_batches(job_filter, RETRYABLE_STATES, lambda ids: len(jobs_requeue(ids)), batch_size=batch_size)


def jobs_cancel_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Cancel the waiting jobs the filter matches and ask its active ones to stop; returns how many."""
    waiting = _in_batches(job_filter, CANCELLABLE_STATES, lambda ids: len(jobs_cancel(ids)), batch_size=batch_size)
    running = _in_batches(job_filter, {JobStatus.ACTIVE}, lambda ids: len(jobs_request_cancel(ids)),
                          batch_size=batch_size, extra=Q(cancel_requested=False))
    return waiting + running


def jobs_promote_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Make the waiting jobs (scheduled, retrying) the filter matches due now."""
    return _in_batches(job_filter, WAITING_STATES, lambda ids: len(jobs_promote(ids)), batch_size=batch_size)


def jobs_delete_where(job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the finished jobs the filter matches; live jobs are never deleted (cancel them first)."""
    return _in_batches(job_filter, FINAL_STATES, jobs_delete, batch_size=batch_size)


RUNNERS: dict[str, Callable[..., int]] = {
    "retry": jobs_requeue_where,
    "cancel": jobs_cancel_where,
    "run_now": jobs_promote_where,
    "delete": jobs_delete_where,
}


def jobs_act_where(action: str, job_filter: JobFilter, *, batch_size: int = BATCH_SIZE) -> int:
    """Run the named bulk action (``ACTIONS``) over the filter; returns how many jobs it changed."""
    return RUNNERS[action](job_filter, batch_size=batch_size)
