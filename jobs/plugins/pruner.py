"""Retention: prune finished jobs by each queue's policy, in small batches.

Each queue keeps at most N completed (and N failed) jobs and none older than
its age limit (README's queue table; JOB_QUEUES keep_completed / keep_failed).
Cancelled jobs follow the failed policy. Live jobs are never candidates.
Batches are short transactions, so the table is never locked for long and
the dashboard and workers carry on while a large backlog is pruned.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction

from jobs.core.config import Retention, get_config
from jobs.engine.transitions import jobs_delete

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
#: The final states each policy governs.
POLICY_STATES = {"completed": ("completed",), "failed": ("failed", "cancelled")}

# Candidates: finished jobs of one queue and policy that are either beyond the
# newest N (by finished_at) or older than the age limit.
_CANDIDATES = """
    SELECT id FROM (
        SELECT id, finished_at,
               row_number() OVER (ORDER BY finished_at DESC NULLS LAST, id DESC) AS rank
          FROM jobs_queuejob
         WHERE queue = %(queue)s AND status = ANY(%(states)s)
    ) ranked
     WHERE (%(max_count)s::int IS NOT NULL AND rank > %(max_count)s::int)
        OR (%(max_age)s::float IS NOT NULL AND finished_at < now() - make_interval(secs => %(max_age)s::float))
"""


@dataclass(frozen=True)
class PruneCount:
    queue: str
    policy: str
    count: int


def _params(queue: str, policy: str, retention: Retention) -> dict:
    return {"queue": queue, "states": list(POLICY_STATES[policy]), "max_count": retention.max_count,
            "max_age": retention.max_age}


def _policies() -> list[tuple[str, str, Retention]]:
    return [
        (name, policy, retention)
        for name, queue in get_config().queues.items()
        for policy, retention in (("completed", queue.keep_completed), ("failed", queue.keep_failed))
        if retention.max_count is not None or retention.max_age is not None
    ]


def prune_preview() -> list[PruneCount]:
    """What ``prune_jobs`` would delete now, per queue and policy."""
    counts = []
    with connection.cursor() as cursor:
        for queue, policy, retention in _policies():
            cursor.execute(f"SELECT count(*) FROM ({_CANDIDATES}) c", _params(queue, policy, retention))
            counts.append(PruneCount(queue, policy, cursor.fetchone()[0]))
    return counts


def prune_jobs(*, batch_size: int = BATCH_SIZE) -> list[PruneCount]:
    """Delete what the policies say, batch by batch, through the engine's delete (attempts go with their jobs)."""
    results = []
    for queue, policy, retention in _policies():
        total = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"{_CANDIDATES} LIMIT %(batch)s",
                               {**_params(queue, policy, retention), "batch": batch_size})
                ids = [row[0] for row in cursor.fetchall()]
                deleted = jobs_delete(ids) if ids else 0
            total += deleted
            if len(ids) < batch_size or deleted == 0:
                break
        if total:
            logger.info("event=pruned queue=%s policy=%s deleted=%d", queue, policy, total)
        results.append(PruneCount(queue, policy, total))
    return results
