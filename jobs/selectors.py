"""Reads: what the API, the commands and the dashboard ask of the job tables."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from rq import Worker

from jobs.conf import get_config
from jobs.dispatch import logical_queue, redis_connection
from jobs.models import JobAttempt, QueueJob
from jobs.queue_control import paused_queues

logger = logging.getLogger(__name__)


def parse_job_id(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def job_get(job_id: str | uuid.UUID) -> QueueJob | None:
    """The job, or None for an unknown or malformed id."""
    parsed = parse_job_id(job_id)
    if parsed is None:
        return None
    return QueueJob.objects.filter(pk=parsed).first()


def job_list(
    *,
    status: str | None = None,
    queue: str | None = None,
    type: str | None = None,
    q: str | None = None,
) -> QuerySet[QueueJob]:
    """Jobs matching every given filter, newest first; ``q`` matches id, payload or error text."""
    jobs = QueueJob.objects.all()
    if status:
        jobs = jobs.filter(status=status)
    if queue:
        jobs = jobs.filter(queue=queue)
    if type:
        jobs = jobs.filter(type=type)
    if q:
        from jobs.filters import FilterError, search_condition

        q = q.strip()
        try:
            jobs = jobs.filter(search_condition(q))  # the dashboard's search: trigram indexes (jobs.filters)
        except FilterError:  # too short for the indexes: look through everything (slow on big tables)
            jobs = jobs.annotate(payload_text=Cast("payload", TextField())).filter(
                Q(payload_text__icontains=q) | Q(error__icontains=q)
            )
    return jobs.order_by("-created_at", "-id")


def job_attempts(job: QueueJob) -> QuerySet[JobAttempt]:
    return job.attempt_set.order_by("number")


def job_to_dict(job: QueueJob) -> dict[str, Any]:
    """The public shape of a job (GET /api/jobs/{id}, events, CLI)."""
    return {
        "id": str(job.id),
        "type": job.type,
        "queue": job.queue,
        "status": job.status,
        "priority": job.priority,
        "progress": {"percent": job.progress_percent, "stage": job.progress_stage, "message": job.progress_message},
        "payload": job.payload,
        "result": job.result,
        "error": job.error or None,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "run_at": job.run_at,
        "correlation_id": job.correlation_id or None,
        "unique_key": job.unique_key,
    }


@dataclass
class QueueStats:
    name: str
    counts: dict[str, int]
    paused: bool
    workers: int
    concurrency: int
    oldest_pending_at: datetime | None

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest pending job has waited."""
        if self.oldest_pending_at is None:
            return None
        return max((timezone.now() - self.oldest_pending_at).total_seconds(), 0.0)

    def public(self) -> dict[str, Any]:
        """The shape of the API's queue objects and ``queue_stats --json``."""
        return {
            "name": self.name, "counts": self.counts, "paused": self.paused, "workers": self.workers,
            "oldest_pending_age": self.oldest_pending_age, "concurrency": self.concurrency,
        }


def queue_stats() -> list[QueueStats]:
    """Counts per state, pause switch, workers listening and oldest pending job, for every queue."""
    from jobs.counts import job_counts

    config = get_config()
    counts = job_counts()  # kept by triggers: no counting of rows (jobs.counts)
    oldest = oldest_pending(list(counts))
    paused = paused_queues()
    workers = workers_per_queue(worker_list())
    return [
        QueueStats(
            name=name,
            counts=counts[name],
            paused=name in paused,
            workers=workers.get(name, 0),
            concurrency=config.queues[name].concurrency if name in config.queues else 0,
            oldest_pending_at=oldest.get(name),
        )
        for name in counts
    ]


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
