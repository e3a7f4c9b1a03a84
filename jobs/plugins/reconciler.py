"""Redis-loss recovery: pending jobs whose message is in no RQ list are handed over again.

PostgreSQL records which RQ message carries each pending QueueJob (``rq_id``).
A job handed over more than JOB_RECONCILE_AFTER seconds ago whose message is
not in one of its queue's RQ lists (Redis flushed or restarted without
persistence, a BLMPOP reply lost on the way, a worker that died between
popping and claiming) is dispatched again (jobs.engine.transitions.jobs_handover).

The RQ hash is not evidence: a reply lost after the pop, or a worker killed
right after it, leaves the hash ``queued`` with the message gone from every
list (jobs.execution.fetch). Only the lists are. A duplicate is harmless (the
claim is guarded, and the fetch script drops the hash of a message already
claimed), so a message popped but not yet claimed may be sent twice.

Every round walks the whole backlog in keyset pages, so any number of jobs
waiting legitimately (a paused queue, a queue with no worker) cannot hide a
lost one behind them. Each queue's lists are read once per round, from the
tail backwards: workers pop at the head and new messages arrive at the tail,
so a message present for the whole read is never skipped (at worst read twice).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

import redis
from django.db import connection, transaction

from jobs.core.transport import BANDS, redis_connection
from jobs.engine.transitions import jobs_handover

logger = logging.getLogger(__name__)

#: Pending jobs read (and handed over) per statement.
PAGE = 1000
#: RQ ids read from a list per LRANGE.
LIST_CHUNK = 10_000

_PAGE_SQL = """
SELECT id, rq_id, queue, dispatched_at FROM jobs_queuejob
 WHERE status = 'pending' AND dispatched_at IS NOT NULL AND dispatched_at < %(cutoff)s
   AND (%(after_at)s::timestamptz IS NULL OR (dispatched_at, id) > (%(after_at)s, %(after_id)s))
 ORDER BY dispatched_at, id LIMIT %(page)s
"""


def jobs_reconcile(*, older_than: float, page: int = PAGE) -> int:
    """Re-dispatch pending jobs whose RQ message is in no list of their queue; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - make_interval(secs => %s)", [older_than])
        (cutoff,) = cursor.fetchone()
    after_at: datetime | None = None  # keyset position: the last (dispatched_at, id) read
    after_id: uuid.UUID | None = None
    listed: dict[str, set[bytes]] = {}  # queue -> RQ ids in its lists, read once per round
    redispatched = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_PAGE_SQL, {"cutoff": cutoff, "after_at": after_at, "after_id": after_id, "page": page})
            candidates: list[tuple[uuid.UUID, str, str, datetime]] = cursor.fetchall()
        if not candidates:
            break
        after_id, after_at = candidates[-1][0], candidates[-1][3]
        try:
            for queue in {queue for _, _, queue, _ in candidates} - listed.keys():
                listed[queue] = _listed(queue)
        except redis.RedisError as exc:
            logger.warning("event=reconcile_skipped error=%r", exc)
            break
        missing = [(job_id, rq_id) for job_id, rq_id, queue, _ in candidates if rq_id.encode() not in listed[queue]]
        if missing:
            with transaction.atomic():
                redispatched += len(jobs_handover(missing))
        if len(candidates) < page:
            break
    if redispatched:
        logger.warning("event=reconciled redispatched=%d", redispatched)
    return redispatched


def _listed(queue: str) -> set[bytes]:
    """The RQ ids waiting in the queue's lists (every priority band), read tail first in chunks."""
    client = redis_connection()
    ids: set[bytes] = set()
    for suffix, _ in BANDS:
        key = f"rq:queue:{queue}{suffix}"
        end = -1
        while True:
            chunk = client.lrange(key, end - LIST_CHUNK + 1, end)
            ids.update(chunk)
            if len(chunk) < LIST_CHUNK:
                break
            end -= LIST_CHUNK
    return ids
