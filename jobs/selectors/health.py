"""Health: is every part the system needs answering? Read by /healthz (monitoring.health) and `check_health`.

The body names each part and whether it is healthy, with no secrets (no URLs,
no hosts). Unhealthy (HTTP 503) when PostgreSQL or Redis does not answer, no
worker is alive, or the scheduler leader has not beaten for longer than
SCHEDULER_MAX_LAG seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.transport import redis_connection
from jobs.models import SchedulerHeartbeat
from jobs.selectors.counts import job_counts
from jobs.selectors.queues import oldest_pending, worker_list, workers_per_queue


@dataclass
class Health:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(check["ok"] for check in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check["ok"]]

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.healthy else "unhealthy", "failing": self.failing, "checks": self.checks}


def health_check() -> Health:
    health = Health()
    health.checks["database"] = _database()
    health.checks["redis"] = _redis()
    health.checks["workers"] = _workers(redis_ok=health.checks["redis"]["ok"])
    health.checks["scheduler"] = _scheduler(database_ok=health.checks["database"]["ok"])
    if health.checks["database"]["ok"]:
        health.checks["queues"] = _queues()
    return health


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except DatabaseError as exc:
        connection.close()
        return {"ok": False, "error": type(exc).__name__}


def _redis() -> dict[str, Any]:
    try:
        redis_connection().ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _workers(*, redis_ok: bool) -> dict[str, Any]:
    if not redis_ok:
        return {"ok": False, "error": "redis unavailable", "per_queue": {}}
    per_queue = workers_per_queue(worker_list())
    return {"ok": bool(per_queue), "per_queue": per_queue, **({} if per_queue else {"error": "no live worker"})}


def _scheduler(*, database_ok: bool) -> dict[str, Any]:
    if not database_ok:
        return {"ok": False, "error": "database unavailable"}
    beat = SchedulerHeartbeat.objects.filter(name="leader").first()
    if beat is None:
        return {"ok": False, "error": "no scheduler has run", "lag_seconds": None}
    lag = (timezone.now() - beat.beat_at).total_seconds()
    ok = lag <= settings.SCHEDULER_MAX_LAG
    return {"ok": ok, "lag_seconds": round(lag, 3), **({} if ok else {"error": "leader heartbeat is stale"})}


def _queues() -> dict[str, Any]:
    """Pending jobs per queue from the maintained counts, and the oldest one's age (an index probe each):
    information, not a pass/fail check, and bounded in cost however long the backlog (anyone may ask)."""
    now = timezone.now()
    names = list(get_config().queues)
    oldest = oldest_pending(names)
    return {"ok": True, "pending": {name: counts["pending"] for name, counts in job_counts(names).items()},
            "oldest_pending_seconds": {
        name: round((now - at).total_seconds(), 3) for name, at in oldest.items() if at is not None}}
