"""A request to create a job, checked against its job type and made an (unsaved) row.

Kept apart from the writer (jobs.engine.enqueue) so that everything that
creates jobs builds them one way: the enqueue writer, and the webhook outbox
(jobs.engine.deliveries, whose rows jobs.engine.publish writes in the
transaction of the state change that causes them).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from jobs.core import log_context, tracing
from jobs.core.config import PRIORITY_RANGE, get_config
from jobs.core.errors import JobTypeError
from jobs.core.registry import JobType, get_job_type
from jobs.core.states import JobStatus
from jobs.core.transport import new_rq_id
from jobs.core.validation import text_errors
from jobs.events.webhooks import webhook_host_problem, webhook_url_problem
from jobs.models import JobSource, QueueJob

MAX_TIMEOUT = 24 * 3600.0
MAX_ATTEMPTS = 100
#: A delay beyond this is almost certainly a unit mistake (ms for s), and it
#: keeps ``now + delay`` far inside the datetime range.
MAX_DELAY = 10 * 365 * 86400.0


def _field_error(field: str, message: str) -> JobTypeError:
    return JobTypeError(f"{field}: {message}", [{"field": field, "message": message, "type": "value_error"}])


def timeout_ceiling(job_type: JobType, queue: str | None = None) -> float:
    """The longest time limit a caller may ask for: the type's ``max_timeout``, else the queue's."""
    return min(job_type.max_timeout or get_config().queue(queue or job_type.queue).max_timeout, MAX_TIMEOUT)


def build_job(
    *,
    type: str,
    payload: dict[str, Any] | None = None,
    queue: str | None = None,
    priority: int | None = None,
    delay: float | None = None,
    run_at: datetime | None = None,
    unique_key: str | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    correlation_id: str = "",
    webhook_url: str = "",
    source: str = JobSource.PYTHON,
    source_detail: str = "",
    created_by: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> QueueJob:
    """Validate one request and build its (unsaved) row; raises JobTypeError with field errors. Without a
    ``correlation_id`` the job takes the one of the work enqueueing it (an API request, another job's run)."""
    correlation_id = correlation_id or log_context.correlation_id()
    job_type = get_job_type(type)
    text_problems = text_errors(payload, "payload") + text_errors(unique_key, "unique_key") + text_errors(
        correlation_id, "correlation_id")
    if text_problems:
        raise JobTypeError("request holds text PostgreSQL cannot store", text_problems)
    model = job_type.validate(payload)
    config = get_config()
    queue = queue or job_type.queue
    if queue not in config.queues:
        raise _field_error("queue", f"unknown queue {queue!r}; known: {', '.join(config.queues)}")
    if priority is None:
        priority = job_type.default_priority() if queue == job_type.queue else config.queue(queue).priority
    if priority not in PRIORITY_RANGE:
        raise _field_error("priority", "must be a whole number from 0 (first) to 9 (last)")
    if delay is not None and run_at is not None:
        raise _field_error("delay", "give either delay or run_at, not both")
    if delay is not None and (not math.isfinite(delay) or not 0 <= delay <= MAX_DELAY):
        raise _field_error("delay", f"must be from 0 to {MAX_DELAY:g} seconds")
    now = now or timezone.now()
    if run_at is not None and timezone.is_naive(run_at):
        raise _field_error("run_at", "must include a time zone")
    if run_at is not None and (run_at - now).total_seconds() > MAX_DELAY:
        raise _field_error("run_at", f"must be within {MAX_DELAY:g} seconds from now (as delay)")
    longest = timeout_ceiling(job_type, queue)
    if timeout is not None and (not math.isfinite(timeout) or not 0 < timeout <= longest):
        raise _field_error("timeout", f"must be more than 0 and at most {longest:g} seconds for {type}")
    attempts_ceiling = min(config.queue(queue).max_attempts, MAX_ATTEMPTS)
    if max_attempts is not None and not 1 <= max_attempts <= attempts_ceiling:
        raise _field_error("max_attempts", f"must be from 1 to {attempts_ceiling} on queue {queue}")
    if unique_key is not None and not 1 <= len(unique_key) <= 200:
        raise _field_error("unique_key", "must be 1 to 200 characters")
    if len(correlation_id) > 100:
        raise _field_error("correlation_id", "must be at most 100 characters")
    if webhook_url and (problem := webhook_url_problem(webhook_url) or webhook_host_problem(webhook_url)):
        raise _field_error("webhook_url", problem)

    if delay:
        run_at = now + timedelta(seconds=delay)
    waiting = run_at is not None and run_at > now
    policy = job_type.retry_policy()
    job = QueueJob(
        type=job_type.name,
        queue=queue,
        payload=model.model_dump(mode="json"),
        status=JobStatus.SCHEDULED if waiting else JobStatus.PENDING,
        priority=priority,
        max_attempts=max_attempts or policy.max_attempts,
        retry_policy=policy.to_json(),
        timeout=timeout or job_type.default_timeout(),
        run_at=run_at if waiting else None,
        correlation_id=correlation_id,
        webhook_url=webhook_url,
        unique_key=unique_key or job_type.unique_key_for(model),
        source=source,
        source_detail=source_detail[:200],
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        dispatched_at=None if waiting else now,
    )
    job.rq_id = "" if waiting else new_rq_id(job.id)
    if tracing.enabled():
        with tracing.enqueue_span(job.type, job.queue) as traceparent:
            job.traceparent = traceparent
    return job
