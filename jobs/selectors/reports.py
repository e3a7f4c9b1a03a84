"""The queue report: what report.queue_summary stores as its result."""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone


def queue_report() -> dict[str, Any]:
    """Counts by status, failure rate, p50/p95 attempt duration and retries, per queue and type."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT j.queue, j.type,
                   count(*) FILTER (WHERE j.status = 'completed'),
                   count(*) FILTER (WHERE j.status = 'failed'),
                   count(*) FILTER (WHERE j.status = 'cancelled'),
                   count(*) FILTER (WHERE j.status IN ('pending', 'scheduled', 'active', 'retrying')),
                   coalesce(sum(greatest(j.attempts - j.interruptions - 1, 0)), 0)
              FROM jobs_queuejob j GROUP BY j.queue, j.type ORDER BY j.queue, j.type
            """
        )
        rows = cursor.fetchall()
        cursor.execute(
            """
            SELECT j.queue, j.type,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration)
              FROM jobs_jobattempt a JOIN jobs_queuejob j ON j.id = a.job_id
             WHERE a.duration IS NOT NULL AND a.outcome = 'completed'
             GROUP BY j.queue, j.type
            """
        )
        durations = {(queue, type_): (p50, p95) for queue, type_, p50, p95 in cursor.fetchall()}
    queues: dict[str, dict[str, Any]] = {}
    for queue, type_, completed, failed, cancelled, live, retries in rows:
        finished = completed + failed
        p50, p95 = durations.get((queue, type_), (None, None))
        queues.setdefault(queue, {})[type_] = {
            "completed": completed,
            "failed": failed,
            "cancelled": cancelled,
            "live": live,
            "failure_rate": round(failed / finished, 4) if finished else None,
            "p50_seconds": round(p50, 4) if p50 is not None else None,
            "p95_seconds": round(p95, 4) if p95 is not None else None,
            "retries": int(retries),
        }
    return {"generated_at": timezone.now().isoformat(), "queues": queues}
