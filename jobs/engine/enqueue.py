"""Creating jobs: validate against the job type, insert, dispatch on commit.

A job enqueued inside a transaction exists if and only if that transaction
commits (README, "Guarantees"): the row is written in the caller's
transaction and the Redis hand-over runs in ``on_commit``. The row is written
as already dispatched so the common case costs one INSERT; if Redis refuses,
``dispatch`` clears the mark and the stager tries again (jobs.engine.publish).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.core.config import PRIORITY_RANGE, get_config
from jobs.core.errors import JobTypeError
from jobs.core.registry import JobType, get_job_type
from jobs.core.states import LIVE_STATES, JobStatus
from jobs.core.transport import new_rq_id
from jobs.core.validation import text_errors
from jobs.engine.publish import publish_on_commit
from jobs.events.webhooks import webhook_url_problem
from jobs.models import JobSource, QueueJob

MAX_TIMEOUT = 24 * 3600.0
MAX_ATTEMPTS = 100
#: A delay beyond this is almost certainly a unit mistake (ms for s), and it
#: keeps ``now + delay`` far inside the datetime range.
MAX_DELAY = 10 * 365 * 86400.0


@dataclass(frozen=True)
class EnqueueResult:
    job: QueueJob
    created: bool  # False: a live job with the same unique key already existed


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
    """Validate one request and build its (unsaved) row; raises JobTypeError with field errors."""
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
    if webhook_url and (problem := webhook_url_problem(webhook_url)):
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
    return job


def job_enqueue(**request: Any) -> EnqueueResult:
    """Validate, insert and (on commit) dispatch one job. Keyword arguments as ``build_job``."""
    job = build_job(**request)
    if job.unique_key:
        existing = _live_job_with_key(job.type, job.unique_key)
        if existing is not None:
            return EnqueueResult(existing, created=False)
    saved = _insert(job)
    return EnqueueResult(saved, created=saved is job)


def job_enqueue_many(requests: list[dict[str, Any]]) -> list[QueueJob]:
    """Validate all, then one INSERT and one Redis round trip for the lot.

    All or nothing: if any request is invalid, JobTypeError names its index
    and nothing is written. Requests carrying a unique key go one by one so
    that deduplication still holds.
    """
    now = timezone.now()
    built: list[QueueJob] = []
    for index, request in enumerate(requests):
        try:
            built.append(build_job(now=now, **request))
        except JobTypeError as exc:
            errors = [{**err, "field": f"{index}.{err['field']}"} for err in exc.errors]
            raise JobTypeError(f"request {index}: {exc}", errors) from None
    return [result.job for result in _insert_all(built)]


def job_enqueue_each(requests: list[dict[str, Any]]) -> list[EnqueueResult | JobTypeError]:
    """Each request validated on its own: the valid ones inserted with one INSERT and dispatched in one
    Redis round trip; per request, its result or why it was refused (``POST /api/jobs/bulk``)."""
    now = timezone.now()
    refused: list[JobTypeError | None] = []
    built: list[QueueJob] = []
    for request in requests:
        try:
            built.append(build_job(now=now, **request))
            refused.append(None)
        except JobTypeError as exc:
            refused.append(exc)
    results = iter(_insert_all(built))
    return [error or next(results) for error in refused]


def _insert_all(built: list[QueueJob]) -> list[EnqueueResult]:
    """Insert built jobs, in order: one INSERT for those without a unique key, the others one by one."""
    with transaction.atomic():
        plain = [job for job in built if not job.unique_key]
        QueueJob.objects.bulk_create(plain)
        results = {id(job): EnqueueResult(job, created=True) for job in plain}
        for job in built:
            if job.unique_key:
                saved = _insert(job, publish=False)
                results[id(job)] = EnqueueResult(saved, created=saved is job)
        publish_on_commit([r.job for r in results.values() if r.created], "job:enqueued")
    return [results[id(job)] for job in built]


def _insert(job: QueueJob, *, publish: bool = True) -> QueueJob:
    """Insert one job; if a live job holds its unique key, return that one instead."""
    if not job.unique_key:
        job.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            existing = _live_job_with_key(job.type, job.unique_key)
            if existing is None:
                raise
            return existing
    if publish:
        publish_on_commit([job], "job:enqueued")
    return job


def _live_job_with_key(type_name: str, key: str) -> QueueJob | None:
    """Keys are scoped by job type (the ``job_type_unique_key_live`` constraint)."""
    return QueueJob.objects.filter(type=type_name, unique_key=key, status__in=LIVE_STATES).first()
