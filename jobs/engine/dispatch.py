"""Hand-over of pending jobs to Redis, and taking a hand-over back.

Dispatch never raises on Redis trouble: the job stays in PostgreSQL with
``dispatched_at`` empty and the stager (jobs.plugins.stager) dispatches it
again. Both writers are guarded by the RQ id of the hand-over, so a newer
hand-over of the same job is never undone.
"""
from __future__ import annotations

import logging
from collections import defaultdict

import redis
from django.db import connection
from rq import Queue

from jobs.core.transport import (
    RQ_FAILURE_TTL,
    RQ_RESULT_TTL,
    RUNNER,
    Dispatch,
    get_rq_queue,
    redis_connection,
    rq_queue_name,
)

logger = logging.getLogger(__name__)


def dispatch(items: list[Dispatch]) -> bool:
    """Push the jobs to Redis in one round trip; on failure, mark them undispatched."""
    if not items:
        return True
    by_queue: dict[str, list[Dispatch]] = defaultdict(list)
    for item in items:
        by_queue[rq_queue_name(item.queue, item.priority)].append(item)
    try:
        with redis_connection().pipeline(transaction=False) as pipe:  # one round trip; no MULTI/EXEC needed
            for rq_name, group in by_queue.items():
                get_rq_queue(rq_name).enqueue_many(
                    [
                        Queue.prepare_data(
                            RUNNER,
                            args=(str(item.job_id),),
                            job_id=item.rq_id,
                            result_ttl=RQ_RESULT_TTL,
                            failure_ttl=RQ_FAILURE_TTL,
                            timeout=-1,
                            description=str(item.job_id),
                        )
                        for item in group
                    ],
                    pipeline=pipe,
                )
            pipe.execute()
        return True
    except redis.RedisError as exc:
        logger.warning("event=dispatch_failed jobs=%d error=%r; the stager will dispatch them", len(items), exc)
        jobs_undispatch(items)
        return False


_UNDISPATCH_SQL = """
UPDATE jobs_queuejob AS j SET dispatched_at = NULL, rq_id = ''
  FROM unnest(%(ids)s::uuid[], %(rq_ids)s::text[]) AS h(id, rq_id)
 WHERE j.id = h.id AND j.rq_id = h.rq_id AND j.status = 'pending' {paused}
"""
_PAUSED = "AND EXISTS (SELECT 1 FROM jobs_queuestate s WHERE s.name = j.queue AND s.paused)"


def jobs_undispatch(items: list[Dispatch], *, only_paused: bool = False) -> int:
    """Forget these hand-overs (Redis refused them, or a worker popped a job of a paused queue),
    so the stager or a resume sends the jobs again; returns how many were taken back."""
    sql = _UNDISPATCH_SQL.format(paused=_PAUSED if only_paused else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": [item.job_id for item in items], "rq_ids": [item.rq_id for item in items]})
        return cursor.rowcount
