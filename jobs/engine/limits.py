"""Global limits per queue, across all workers: ``global_concurrency`` and ``rate_limit``.

Held in PostgreSQL, not in Redis, so they survive a Redis flush: a claim for
a limited queue takes the queue's transaction-scoped advisory lock, counts the
queue's active jobs (and its starts within the last period of the rate limit:
a sliding window, so N starts per period hold for any period-long span), and
claims no more than that allows.
Jobs over a limit are not claimed: they stay pending, charged nothing, and the
worker hands their messages back to Redis (jobs.execution.fetch.put_back).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from jobs.core.config import QueueConfig
from jobs.engine.attempts import Claim, jobs_claim

#: How soon a worker asks again after a queue's concurrency limit was full.
CONCURRENCY_RECHECK = 0.1


def jobs_claim_limited(
    job_ids: Sequence[str | uuid.UUID], *, queue: QueueConfig, worker: str, pid: int, lease: float
) -> tuple[list[Claim], int, float | None]:
    """Claim what the queue's limits allow of ``job_ids`` (in order): (claims, how many of the ids were
    tried, seconds to wait before asking again when a limit was reached, else None)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"jobs.queue-limit.{queue.name}"])
        allowance, wait = len(job_ids), None
        if queue.global_concurrency is not None:
            cursor.execute("SELECT count(*) FROM jobs_queuejob WHERE queue = %s AND status = 'active'", [queue.name])
            free = queue.global_concurrency - cursor.fetchone()[0]
            if free < allowance:
                allowance, wait = max(free, 0), CONCURRENCY_RECHECK
        recent: list[datetime] | None = None
        if queue.rate_limit is not None:
            now, period = timezone.now(), timedelta(seconds=queue.rate_limit.period)
            cursor.execute("SELECT starts FROM jobs_queueratewindow WHERE queue = %s", [queue.name])
            row = cursor.fetchone()
            recent = sorted(at for at in (row[0] if row else []) if at > now - period)
            left = queue.rate_limit.starts - len(recent)
            if left < allowance:
                allowance = max(left, 0)
                wait = max((recent[0] + period - now).total_seconds(), 0.001) if recent else 0.001
        tried = list(job_ids[:allowance])
        claims = jobs_claim(tried, worker=worker, pid=pid, lease=lease) if tried else []
        if recent is not None and queue.rate_limit is not None and claims:
            starts = (recent + [timezone.now()] * len(claims))[-queue.rate_limit.starts:]
            cursor.execute(
                "INSERT INTO jobs_queueratewindow (queue, starts) VALUES (%s, %s)"
                " ON CONFLICT (queue) DO UPDATE SET starts = EXCLUDED.starts",
                [queue.name, starts],
            )
    return claims, len(tried), wait
