"""Reads of attempts' log lines: the API's ``GET /api/jobs/{id}/logs`` and the job page."""
from __future__ import annotations

from django.db.models import Prefetch

from jobs.models import JobAttempt, JobLogLine, QueueJob


def job_logs(job: QueueJob, *, attempt: int | None = None) -> list[JobAttempt]:
    """The job's attempts oldest first (only number ``attempt``, if given), each with its log lines in
    order in ``lines``: two queries, whatever the number of attempts."""
    attempts = job.attempt_set.order_by("number")
    if attempt is not None:
        attempts = attempts.filter(number=attempt)
    lines = Prefetch("log_lines", queryset=JobLogLine.objects.order_by("number"), to_attr="lines")
    return list(attempts.prefetch_related(lines))
