"""Storing attempts' log lines (jobs.engine.attempt_logs) and removing them with their jobs."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.log_lines import LogLine
from jobs.engine.attempt_logs import attempt_logs_append
from jobs.engine.transitions import jobs_delete
from jobs.models import JobAttempt, JobLogLine, QueueJob
from jobs.plugins.pruner import prune_jobs

pytestmark = pytest.mark.django_db


def finished_job(*, lines: int, minutes_ago: int = 0) -> tuple[QueueJob, JobAttempt]:
    """A completed job with one attempt that logged ``lines`` lines."""
    at = timezone.now() - timedelta(minutes=minutes_ago)
    job = QueueJob.objects.create(type="demo.log", queue="default", status="completed", timeout=1, attempts=1,
                                  finished_at=at)
    attempt = JobAttempt.objects.create(job=job, number=1, started_at=at, finished_at=at, outcome="completed")
    attempt_logs_append([line(attempt, n) for n in range(1, lines + 1)])
    return job, attempt


def line(attempt: JobAttempt, number: int, message: str | None = None) -> LogLine:
    return LogLine(attempt.id, str(attempt.job_id), attempt.number, number, datetime.now(UTC), "INFO",
                   message or f"line {number}")


def test_a_line_written_twice_is_stored_once_and_lines_of_a_vanished_attempt_are_skipped() -> None:
    _, attempt = finished_job(lines=2)
    gone = LogLine(attempt.id + 1000, "x", 1, 1, datetime.now(UTC), "INFO", "of nobody")
    # A retried batch (the progress thread's lines again, with the finish's new one): only the new one lands.
    assert attempt_logs_append([line(attempt, 1, "again"), line(attempt, 2), line(attempt, 3), gone]) == 1
    assert list(JobLogLine.objects.filter(attempt=attempt).order_by("number").values_list("number", "message")) == [
        (1, "line 1"), (2, "line 2"), (3, "line 3")]
    assert attempt_logs_append([]) == 0


def test_deleting_jobs_deletes_their_attempts_log_lines() -> None:
    job, _ = finished_job(lines=3)
    kept, _ = finished_job(lines=2)
    assert jobs_delete([job.id]) == 1
    assert not JobAttempt.objects.filter(job_id=job.id).exists()
    assert JobLogLine.objects.count() == 2 and JobLogLine.objects.filter(attempt__job=kept).count() == 2


def test_retention_removes_the_log_with_the_job(settings: Any) -> None:
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "default": {**settings.JOB_QUEUES["default"],
                                                              "keep_completed": (1, None)}}
    get_config.cache_clear()
    try:
        old, _ = finished_job(lines=4, minutes_ago=10)
        new, _ = finished_job(lines=1)
        deleted = {(c.queue, c.policy): c.count for c in prune_jobs()}
    finally:
        get_config.cache_clear()
    assert deleted[("default", "completed")] == 1
    assert not QueueJob.objects.filter(pk=old.pk).exists()
    assert list(JobLogLine.objects.values_list("attempt__job_id", flat=True)) == [new.id]
