"""Reads of queues: counts per state, pause switches, workers, oldest pending job, throughput.

One read serves the API (``GET /api/queues``), ``queue_stats``, the dashboard
and the live feed (``ws/queues/``): counts come from the trigger-kept tables
(jobs.selectors.counts), so no row is counted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.db import connection
from django.utils import timezone
from rq import Worker

from jobs.core.config import RateLimit, get_config
from jobs.core.transport import logical_queue, redis_connection
from jobs.models import QueueState
from jobs.selectors.counts import Minute, job_counts, throughput

logger = logging.getLogger(__name__)

#: Minutes of throughput each live count message carries (a page has the hour; the server's
#: exact numbers replace what the page counted from events for these minutes).
LIVE_RECENT_MINUTES = 2


@dataclass
class QueueStats:
    name: str
    counts: dict[str, int]
    paused: bool
    workers: int
    concurrency: int
    oldest_pending_at: datetime | None
    #: Completed and failed jobs per minute over the last hour (empty unless asked for).
    throughput: list[Minute] = field(default_factory=list)
    #: Limits across all workers (JOB_QUEUES): at most N running, at most (starts, period s).
    global_concurrency: int | None = None
    rate_limit: tuple[int, float] | None = None

    @property
    def limits(self) -> str:
        """The limits in words, for the queue page ('' when the queue has none)."""
        parts = []
        if self.global_concurrency is not None:
            parts.append(f"≤ {self.global_concurrency} running")
        if self.rate_limit is not None:
            starts, period = self.rate_limit
            parts.append(f"≤ {starts} starts / {period:g} s")
        return " · ".join(parts)

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest pending job has waited."""
        if self.oldest_pending_at is None:
            return None
        return max((timezone.now() - self.oldest_pending_at).total_seconds(), 0.0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def completed_last_hour(self) -> int:
        return sum(m.completed for m in self.throughput)

    @property
    def failed_last_hour(self) -> int:
        return sum(m.failed for m in self.throughput)

    @property
    def retried_last_hour(self) -> int:
        return sum(m.retried for m in self.throughput)

    def public(self) -> dict[str, Any]:
        """The shape of the API's queue objects and ``queue_stats --json``."""
        return {
            "name": self.name, "counts": self.counts, "paused": self.paused, "workers": self.workers,
            "oldest_pending_age": self.oldest_pending_age, "concurrency": self.concurrency,
        }

    def live(self, *, recent: int | None = None) -> dict[str, Any]:
        """What a dashboard page's script starts from, or (``recent`` minutes of throughput) what
        ``ws/queues/`` sends."""
        minutes = [[m.at.isoformat(), m.completed, m.failed, m.retried] for m in self.throughput]
        return {
            "name": self.name,
            "counts": self.counts,
            "paused": self.paused,
            "workers": self.workers,
            "oldest_pending_at": self.oldest_pending_at.isoformat() if self.oldest_pending_at else None,
            **({"throughput": minutes} if recent is None else {"throughput_recent": minutes[-recent:]}),
        }


def queue_stats(*, with_throughput: bool = False) -> list[QueueStats]:
    """Every queue (configured, or holding jobs): counts, pause switch, workers, oldest pending job."""
    config = get_config()
    counts = job_counts()
    oldest = oldest_pending(list(counts))
    paused = paused_queues()
    workers = workers_per_queue(worker_list())
    rates = throughput() if with_throughput else {}
    return [
        QueueStats(
            name=name,
            counts=counts[name],
            paused=name in paused,
            workers=workers.get(name, 0),
            concurrency=config.queues[name].concurrency if name in config.queues else 0,
            oldest_pending_at=oldest.get(name),
            throughput=rates.get(name, []),
            global_concurrency=config.queues[name].global_concurrency if name in config.queues else None,
            rate_limit=_rate(config.queues[name].rate_limit) if name in config.queues else None,
        )
        for name in counts
    ]


def _rate(limit: RateLimit | None) -> tuple[int, float] | None:
    return None if limit is None else (limit.starts, limit.period)


def queue_stats_one(name: str, *, with_throughput: bool = False) -> QueueStats | None:
    for stats in queue_stats(with_throughput=with_throughput):
        if stats.name == name:
            return stats
    return None


def queues_live() -> list[dict[str, Any]]:
    """What ``ws/queues/`` sends for every queue: counts, pause switch, workers, oldest pending job,
    and the last minutes of throughput."""
    return [stats.live(recent=LIVE_RECENT_MINUTES) for stats in queue_stats(with_throughput=True)]


def paused_queues() -> set[str]:
    return set(QueueState.objects.filter(paused=True).values_list("name", flat=True))


def oldest_pending(queues: list[str]) -> dict[str, datetime | None]:
    """Creation time of each queue's oldest pending job: one index probe per queue, whatever the backlog."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT q.name, (SELECT j.created_at FROM jobs_queuejob j WHERE j.queue = q.name AND j.status = 'pending'"
            " ORDER BY j.created_at LIMIT 1) FROM unnest(%s::text[]) AS q(name)",
            [queues],
        )
        return dict(cursor.fetchall())


def worker_list() -> list[Worker] | None:
    """RQ's registered workers, or None when Redis is unreachable."""
    try:
        return Worker.all(connection=redis_connection())
    except redis.RedisError as exc:
        logger.warning("event=workers_unavailable error=%r", exc)
        return None


def workers_per_queue(workers: list[Worker] | None) -> dict[str, int]:
    """How many of ``workers`` listen on each logical queue (none known when Redis is unreachable)."""
    result: dict[str, int] = {}
    for worker in workers or ():
        for name in {logical_queue(q) for q in worker.queue_names()}:
            result[name] = result.get(name, 0) + 1
    return result
