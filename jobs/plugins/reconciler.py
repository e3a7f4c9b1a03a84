"""Redis-loss recovery: pending jobs that Redis no longer holds are handed over again.

PostgreSQL records which RQ job carries each pending QueueJob (``rq_id``). A
job handed over more than JOB_RECONCILE_AFTER seconds ago whose RQ job is
gone (Redis flushed, restarted without persistence) or was consumed without
the claim happening (a worker died between popping and claiming) is
dispatched again (jobs.engine.transitions.jobs_handover). A duplicate is harmless:
the claim is guarded.
"""
from __future__ import annotations

import logging

import redis
from django.db import connection, transaction

from jobs.core.transport import redis_connection
from jobs.engine.transitions import jobs_handover

logger = logging.getLogger(__name__)

#: RQ job states in which the message is still waiting for a worker.
WAITING_RQ_STATES = {b"queued", b"scheduled", b"deferred"}


def jobs_reconcile(*, older_than: float, limit: int = 1000) -> int:
    """Re-dispatch pending jobs whose RQ message is missing; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, rq_id FROM jobs_queuejob WHERE status = 'pending' AND dispatched_at IS NOT NULL"
            " AND dispatched_at < now() - make_interval(secs => %s) ORDER BY dispatched_at LIMIT %s",
            [older_than, limit],
        )
        candidates = cursor.fetchall()
    if not candidates:
        return 0
    try:
        with redis_connection().pipeline(transaction=False) as pipe:
            for _, rq_id in candidates:
                pipe.hget(f"rq:job:{rq_id}", "status")
            states = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("event=reconcile_skipped error=%r", exc)
        return 0
    missing = [(job_id, rq_id) for (job_id, rq_id), state in zip(candidates, states)
               if state not in WAITING_RQ_STATES]
    if not missing:
        return 0
    with transaction.atomic():
        redispatched = len(jobs_handover(missing))
    if redispatched:
        logger.warning("event=reconciled redispatched=%d", redispatched)
    return redispatched
