"""Retention: prune finished jobs by each queue's policy, in small batches.

Each queue keeps at most N completed (and N failed) jobs and none older than
its age limit (README's queue table; JOB_QUEUES keep_completed / keep_failed).
A job type may keep its own (``JobType.keep_completed`` / ``keep_failed``; a
Django task through its backend's options): its jobs are then counted apart
from their queue's. Cancelled jobs follow the failed policy. Live jobs are
never candidates.
Batches are short transactions, so the table is never locked for long and
the dashboard and workers carry on while a large backlog is pruned.

The candidates are the tail of the newest-first order (finished_at, id): the
jobs older than the newest N, or older than the age limit. So the pruner
finds where the tail starts once per policy (the N-th newest job, the age
cutoff) and walks it in keyset batches down the job_queue_finished_id index,
each batch starting below the last one: every job is read once, however
large the backlog (ranking every finished job again for each batch read the
whole backlog per batch). Final states always carry a finish time
(jobs.engine), so jobs without one are not considered.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from jobs.core.config import Retention, get_config
from jobs.core.registry import all_job_types
from jobs.engine.transitions import jobs_delete

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
#: The final states each policy governs.
POLICY_STATES = {"completed": ("completed",), "failed": ("failed", "cancelled")}

#: A queue's policy covers its jobs but those of types with their own; a type's covers its jobs in any queue.
_SCOPES = {
    "queue": "queue = %(queue)s AND NOT (type = ANY(%(own)s)) AND status = ANY(%(states)s) AND finished_at IS NOT NULL",
    "type": "type = %(type)s AND status = ANY(%(states)s) AND finished_at IS NOT NULL",
}


def _sql(kind: str) -> dict[str, str]:
    scope = _SCOPES[kind]
    return {
        # The oldest job the count limit keeps (the N-th newest): the tail starts below it.
        "oldest_kept": f"SELECT finished_at, id FROM jobs_queuejob WHERE {scope}"
                       " ORDER BY finished_at DESC, id DESC OFFSET %(offset)s LIMIT 1",
        # One batch of the tail, newest first, strictly below the key it starts from.
        "batch": f"SELECT finished_at, id FROM jobs_queuejob WHERE {scope} AND (finished_at, id) < (%(finished_at)s,"
                 " %(id)s) ORDER BY finished_at DESC, id DESC LIMIT %(batch)s",
        "count": f"SELECT count(*) FROM jobs_queuejob WHERE {scope} AND (finished_at, id) < (%(finished_at)s, %(id)s)",
    }


_SQL = {kind: _sql(kind) for kind in _SCOPES}

Key = tuple[datetime, uuid.UUID]
_NIL = uuid.UUID(int=0)  # (cutoff, nil id) sorts below every job finished at the cutoff: "older than" is strict
#: Above every job: where the tail starts when a policy keeps none (max_count 0).
_TOP: Key = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=2**128 - 1))


@dataclass(frozen=True)
class PruneCount:
    queue: str  # the queue, or "type <name>" for a type's own policy
    policy: str
    count: int


@dataclass(frozen=True)
class _Policy:
    kind: str  # "queue" or "type"
    name: str
    policy: str
    retention: Retention
    own: tuple[str, ...] = ()  # for a queue: the types counted apart

    @property
    def label(self) -> str:
        return self.name if self.kind == "queue" else f"type {self.name}"

    def params(self) -> dict:
        return {self.kind: self.name, "own": list(self.own), "states": list(POLICY_STATES[self.policy])}


def _tail_start(cursor: CursorWrapper, policy: _Policy) -> Key | None:
    """The key every candidate sorts below (the newer of the two limits' starts); None: nothing to prune."""
    retention = policy.retention
    starts: list[Key] = []
    if retention.max_count == 0:
        starts.append(_TOP)
    elif retention.max_count is not None:
        cursor.execute(_SQL[policy.kind]["oldest_kept"], {**policy.params(), "offset": retention.max_count - 1})
        row = cursor.fetchone()
        if row is not None:
            starts.append((row[0], row[1]))
    if retention.max_age is not None:
        cursor.execute("SELECT now() - make_interval(secs => %s)", [retention.max_age])
        starts.append((cursor.fetchone()[0], _NIL))
    return max(starts) if starts else None


def _limits(retention: Retention | None) -> bool:
    return retention is not None and (retention.max_count is not None or retention.max_age is not None)


def _policies() -> list[_Policy]:
    own = {jt.name: {"completed": jt.keep_completed, "failed": jt.keep_failed} for jt in all_job_types()
           if jt.keep_completed is not None or jt.keep_failed is not None}
    policies = []
    for name, queue in get_config().queues.items():
        for policy, retention in (("completed", queue.keep_completed), ("failed", queue.keep_failed)):
            apart = tuple(sorted(t for t, kept in own.items() if kept[policy] is not None))
            if _limits(retention):
                policies.append(_Policy("queue", name, policy, retention, apart))
    for type_name, kept in own.items():
        for policy, retention in kept.items():
            if _limits(retention):
                policies.append(_Policy("type", type_name, policy, retention))
    return policies


def prune_preview() -> list[PruneCount]:
    """What ``prune_jobs`` would delete now, per queue and policy."""
    counts = []
    with connection.cursor() as cursor:
        for policy in _policies():
            start = _tail_start(cursor, policy)
            count = 0
            if start is not None:
                cursor.execute(_SQL[policy.kind]["count"], {**policy.params(), "finished_at": start[0], "id": start[1]})
                count = cursor.fetchone()[0]
            counts.append(PruneCount(policy.label, policy.policy, count))
    return counts


def prune_jobs(*, batch_size: int = BATCH_SIZE) -> list[PruneCount]:
    """Delete what the policies say, batch by batch, through the engine's delete (attempts go with their jobs)."""
    results = []
    for policy in _policies():
        total = 0
        with connection.cursor() as cursor:
            below = _tail_start(cursor, policy)
        while below is not None:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_SQL[policy.kind]["batch"], {**policy.params(), "finished_at": below[0], "id": below[1],
                                                            "batch": batch_size})
                rows = cursor.fetchall()
                total += jobs_delete([row[1] for row in rows]) if rows else 0
            below = (rows[-1][0], rows[-1][1]) if len(rows) == batch_size else None
        if total:
            logger.info("event=pruned scope=%s policy=%s deleted=%d", policy.label.replace(" ", ":"), policy.policy,
                        total)
        results.append(PruneCount(policy.label, policy.policy, total))
    return results
