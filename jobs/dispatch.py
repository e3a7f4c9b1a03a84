"""Hand-over of jobs to Redis (the transport).

RQ carries only a QueueJob id; PostgreSQL holds everything else. Each logical
queue maps onto three RQ lists, one per priority band, and workers listen on
them band first, so a lower priority number runs first across the queues a
worker serves. Dispatch never raises on Redis trouble: the job stays in
PostgreSQL with ``dispatched_at`` empty and the scheduler dispatches it again.
"""
from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.db import connection
from rq import Queue

logger = logging.getLogger(__name__)

#: (suffix, highest priority number in the band); lower numbers run first.
BANDS: tuple[tuple[str, int], ...] = ((":high", 3), ("", 6), (":low", 9))
#: RQ's own copy of a finished job is only bookkeeping; PostgreSQL keeps results.
RQ_RESULT_TTL = 30
RQ_FAILURE_TTL = 7 * 86400
RUNNER = "jobs.runner.run_job"


@dataclass(frozen=True)
class Dispatch:
    job_id: uuid.UUID
    queue: str
    priority: int
    rq_id: str


def new_rq_id() -> str:
    """A fresh RQ id for every hand-over: reusing one would let the expiry of a
    previous run's RQ hash delete the message of the next run."""
    return uuid.uuid4().hex


def rq_queue_name(queue: str, priority: int) -> str:
    for suffix, highest in BANDS:
        if priority <= highest:
            return f"{queue}{suffix}"
    return f"{queue}{BANDS[-1][0]}"


def rq_queue_names(queues: Iterable[str]) -> list[str]:
    """The RQ lists a worker for ``queues`` listens on, in dequeue order."""
    queues = list(queues)
    return [f"{queue}{suffix}" for suffix, _ in BANDS for queue in queues]


def logical_queue(rq_name: str) -> str:
    return rq_name.split(":", 1)[0]


@lru_cache(maxsize=1)
def redis_connection() -> redis.Redis:
    """One client (and pool) per process; short timeouts so a dead Redis fails fast, not at commit time."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=10, health_check_interval=30
    )


@lru_cache(maxsize=None)
def get_rq_queue(rq_name: str) -> Queue:
    return Queue(rq_name, connection=redis_connection())


@receiver(setting_changed)
def _reset_connection(*, setting: str, **kwargs: object) -> None:
    if setting == "REDIS_URL":
        redis_connection.cache_clear()
        get_rq_queue.cache_clear()


def dispatch(items: list[Dispatch]) -> bool:
    """Push the jobs to Redis in one round trip; on failure, mark them undispatched."""
    if not items:
        return True
    by_queue: dict[str, list[Dispatch]] = defaultdict(list)
    for item in items:
        by_queue[rq_queue_name(item.queue, item.priority)].append(item)
    try:
        with redis_connection().pipeline() as pipe:
            for rq_name, group in by_queue.items():
                rq_queue = get_rq_queue(rq_name)
                rq_queue.enqueue_many(
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
        logger.warning("event=dispatch_failed jobs=%d error=%r; the scheduler will dispatch them", len(items), exc)
        mark_undispatched(items)
        return False


def mark_undispatched(items: list[Dispatch]) -> None:
    """Clear dispatched_at so the scheduler's sweep sends these jobs again.

    Guarded by rq_id: a newer hand-over of the same job must not be undone.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_queuejob SET dispatched_at = NULL, rq_id = ''"
            " WHERE status = 'pending' AND (id, rq_id) IN (SELECT * FROM unnest(%s::uuid[], %s::text[]))",
            [[item.job_id for item in items], [item.rq_id for item in items]],
        )
