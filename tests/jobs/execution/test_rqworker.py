"""RQ stays the transport: django-rq's own ``rqworker`` runs the project's messages correctly."""
from __future__ import annotations

import pytest

from jobs.engine.enqueue import job_enqueue
from jobs.core.metrics import labels_key
from jobs.models import JobAttempt, MetricCounter, QueueJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_django_rq_rqworker_runs_a_job_to_completed_with_its_attempt_recorded(processes) -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.1, "steps": 2}).job
    worker = processes.start("rqworker", "default", "--burst", name="rqworker")
    assert worker.wait(timeout=60) == 0, processes.output(worker)
    row = QueueJob.objects.get(pk=job.pk)
    assert (row.status, row.progress_percent, row.attempts) == ("completed", 100, 1)
    (attempt,) = JobAttempt.objects.filter(job=job)
    assert attempt.outcome == "completed" and attempt.worker and attempt.pid and attempt.duration is not None
    # RQ's work horse ends with os._exit: its run's counts were added before it did (jobs/events/metrics.py).
    counted = MetricCounter.objects.get(name="jobs_processed_total",
                                        labels=labels_key(queue="default", type="demo.sleep", outcome="completed"))
    assert counted.value == 1
