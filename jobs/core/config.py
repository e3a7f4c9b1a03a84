"""The engine's configuration, read from Django settings once and cached.

Settings are validated here (and reported by a system check) instead of at
each use, so a bad queue table fails at start, not when a job first fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from jobs.core.retry import RetryPolicy

DEFAULT_PRIORITY = 5
PRIORITY_RANGE = range(0, 10)
#: Ceilings on what a caller may ask of a queue, unless JOB_QUEUES sets ``max_timeout`` / ``max_attempts``.
DEFAULT_MAX_TIMEOUT = 3600.0
DEFAULT_MAX_ATTEMPTS = 25


@dataclass(frozen=True)
class Retention:
    max_count: int | None
    max_age: float | None  # seconds


@dataclass(frozen=True)
class RateLimit:
    """At most ``starts`` job starts per ``period`` seconds, across all workers."""

    starts: int
    period: float


@dataclass(frozen=True)
class QueueConfig:
    name: str
    retry: RetryPolicy
    priority: int
    concurrency: int
    keep_completed: Retention
    keep_failed: Retention
    #: At most this many of the queue's jobs run at once, however many workers serve it (None: no limit).
    global_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    #: The longest ``timeout`` and the most ``max_attempts`` a caller may ask for (a job type may raise
    #: its own timeout ceiling: ``@job_type(max_timeout=…)``).
    max_timeout: float = DEFAULT_MAX_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def limited(self) -> bool:
        return self.global_concurrency is not None or self.rate_limit is not None


@dataclass(frozen=True)
class EngineConfig:
    queues: dict[str, QueueConfig]
    job_timeout: float
    shutdown_timeout: float
    #: Seconds a handler that ignored a stop (stuck outside Python) gets before its run is written off.
    timeout_grace: float
    scheduler_interval: float
    lease_seconds: float
    reconcile_after: float
    #: Bytes of a payload's or result's JSON an event carries (jobs.core.shape.event_shape).
    event_preview_bytes: int
    event_stream_max_age: float
    #: What one attempt keeps of its handler's log: lines and bytes of text (jobs.execution.run_log).
    log_max_lines: int
    log_max_bytes: int

    def queue(self, name: str) -> QueueConfig:
        return self.queues[name]


def _queue_config(name: str, raw: dict, defaults: dict) -> QueueConfig:
    try:
        attempts = settings.JOB_MAX_ATTEMPTS or int(raw["attempts"])
        retry = RetryPolicy.from_backoff_spec(
            max_attempts=attempts,
            spec=tuple(raw["backoff"]),
            cap=settings.JOB_BACKOFF_CAP,
            jitter=settings.JOB_BACKOFF_JITTER,
        )
        priority = int(raw.get("priority", DEFAULT_PRIORITY))
        if priority not in PRIORITY_RANGE:
            raise ValueError(f"priority must be 0-9, got {priority}")
        keep_completed = Retention(*raw.get("keep_completed", defaults["keep_completed"]))
        keep_failed = Retention(*raw.get("keep_failed", defaults["keep_failed"]))
        return QueueConfig(
            name=name,
            retry=retry,
            priority=priority,
            concurrency=int(raw.get("concurrency", 1)),
            keep_completed=keep_completed,
            keep_failed=keep_failed,
            global_concurrency=_positive_or_none(raw.get("global_concurrency"), "global_concurrency"),
            rate_limit=_rate_limit(raw.get("rate_limit")),
            max_timeout=_positive_float(raw.get("max_timeout", DEFAULT_MAX_TIMEOUT), "max_timeout"),
            max_attempts=_positive_or_none(raw.get("max_attempts", DEFAULT_MAX_ATTEMPTS), "max_attempts")
            or DEFAULT_MAX_ATTEMPTS,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"JOB_QUEUES[{name!r}] is invalid: {exc}") from None


def _positive_or_none(value: object, name: str) -> int | None:
    if value is None:
        return None
    number = int(value)  # type: ignore[call-overload]
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {number}")
    return number


def _positive_float(value: object, name: str) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not 0 < number <= 7 * 86400:
        raise ValueError(f"{name} must be more than 0 and at most 604800 s, got {value!r}")
    return number


def _rate_limit(value: object) -> RateLimit | None:
    """``(starts, period_seconds)``, e.g. ``(10, 1)`` for ten a second."""
    if value is None:
        return None
    starts, period = value  # type: ignore[misc]
    limit = RateLimit(int(starts), float(period))
    if limit.starts < 1 or not 0 < limit.period <= 86400:
        raise ValueError(f"rate_limit must be (starts >= 1, 0 < period <= 86400 s), got {value!r}")
    return limit


@lru_cache(maxsize=1)
def get_config() -> EngineConfig:
    raw_queues = settings.JOB_QUEUES
    if "default" not in raw_queues:
        raise ImproperlyConfigured("JOB_QUEUES must define a 'default' queue")
    defaults = raw_queues["default"]
    return EngineConfig(
        queues={name: _queue_config(name, raw, defaults) for name, raw in raw_queues.items()},
        job_timeout=float(settings.JOB_TIMEOUT),
        shutdown_timeout=float(settings.WORKER_SHUTDOWN_TIMEOUT),
        timeout_grace=float(settings.JOB_TIMEOUT_GRACE),
        scheduler_interval=float(settings.SCHEDULER_INTERVAL),
        lease_seconds=float(settings.JOB_LEASE_SECONDS),
        reconcile_after=float(settings.JOB_RECONCILE_AFTER),
        event_preview_bytes=int(settings.JOB_EVENT_PREVIEW_BYTES),
        event_stream_max_age=float(settings.JOB_EVENT_STREAM_MAX_AGE),
        log_max_lines=int(settings.JOB_LOG_MAX_LINES),
        log_max_bytes=int(settings.JOB_LOG_MAX_BYTES),
    )


@receiver(setting_changed)
def _clear_config(*, setting: str, **kwargs: object) -> None:
    if setting.startswith(("JOB_", "WORKER_", "SCHEDULER_")):
        get_config.cache_clear()
