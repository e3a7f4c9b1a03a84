"""Creating jobs: validate against the job type, insert, dispatch on commit.

A job enqueued inside a transaction exists if and only if that transaction
commits (README, "Guarantees"): the row is written in the caller's
transaction and the Redis hand-over runs in ``on_commit``. The row is written
as already dispatched so the common case costs one INSERT; if Redis refuses,
``dispatch`` clears the mark and the stager tries again (jobs.engine.publish).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.core.errors import JobTypeError
from jobs.core.states import LIVE_STATES
from jobs.engine.build import build_job
from jobs.engine.publish import publish_on_commit, state_change
from jobs.models import QueueJob


@dataclass(frozen=True)
class EnqueueResult:
    job: QueueJob
    created: bool  # False: a live job with the same unique key already existed


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
    """Insert one job; if a live job holds its unique key, return that one instead. The row and the
    webhook deliveries of its ``job:enqueued`` go in one transaction (jobs.engine.publish)."""
    with state_change():
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
