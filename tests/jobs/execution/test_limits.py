"""Global limits across worker processes: a queue's global_concurrency and rate_limit hold for all of them."""
from __future__ import annotations

import pytest

from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue_many
from jobs.models import JobAttempt, QueueJob
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _all_completed(jobs, timeout: float) -> None:
    ids = [job.id for job in jobs]
    wait_for(lambda: QueueJob.objects.filter(pk__in=ids, status=JobStatus.COMPLETED).count() == len(ids),
             timeout=timeout, message="every job to complete")


def test_global_concurrency_holds_across_two_worker_processes(processes) -> None:
    env = processes.env(JOB_GLOBAL_CONCURRENCY="report=3")
    for _ in range(2):
        processes.worker("report", concurrency=5, env=env)
    jobs = job_enqueue_many([{"type": "demo.sleep", "queue": "report", "payload": {"seconds": 0.4, "steps": 2}}] * 12)
    _all_completed(jobs, timeout=30)
    spans = sorted(JobAttempt.objects.filter(job__in=jobs).values_list("started_at", "finished_at"))
    overlap = max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)
    assert overlap <= 3, spans
    assert len({pid for pid in JobAttempt.objects.filter(job__in=jobs).values_list("pid", flat=True)}) == 2
    assert all(job.attempts == 1 for job in QueueJob.objects.filter(pk__in=[j.id for j in jobs]))


def test_rate_limit_spreads_starts_and_charges_nothing(processes) -> None:
    env = processes.env(JOB_RATE_LIMITS="report=10/1")
    processes.worker("report", concurrency=20, env=env)
    processes.worker("report", concurrency=20, env=env)
    jobs = job_enqueue_many([{"type": "demo.noop", "queue": "report"}] * 50)
    _all_completed(jobs, timeout=30)
    starts = sorted(JobAttempt.objects.filter(job__in=jobs).values_list("started_at", flat=True))
    assert (starts[-1] - starts[0]).total_seconds() >= 4  # 50 starts at 10 a second: five windows
    rows = QueueJob.objects.filter(pk__in=[j.id for j in jobs])
    assert {job.attempts for job in rows} == {1} and not rows.exclude(status=JobStatus.COMPLETED).exists()
