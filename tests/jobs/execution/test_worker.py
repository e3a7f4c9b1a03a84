"""Real worker and scheduler processes against the test database and Redis."""
import signal
import time

import pytest
from django.utils import timezone

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.engine.transitions import job_cancel, job_requeue
from jobs.models import JobAttempt, QueueJob
from jobs.selectors.jobs import job_list
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(job_id) -> str:
    return QueueJob.objects.values_list("status", flat=True).get(pk=job_id)


def wait_status(job_id, *statuses: str, timeout: float = 20) -> QueueJob:
    wait_for(lambda: status_of(job_id) in statuses, timeout=timeout, message=f"job to be {statuses}")
    return QueueJob.objects.get(pk=job_id)


def outcomes(job_id) -> list[str]:
    return list(JobAttempt.objects.filter(job_id=job_id).order_by("number").values_list("outcome", flat=True))


def test_flaky_job_completes_on_the_third_attempt_with_the_policys_backoff(processes):
    processes.worker()
    processes.scheduler()
    job = job_enqueue(type="demo.flaky", payload={"failures": 2}).job
    job = wait_status(job.id, JobStatus.COMPLETED)
    attempts = list(JobAttempt.objects.filter(job=job).order_by("number"))
    assert [a.outcome for a in attempts] == ["error", "error", "completed"]
    assert job.attempts == 3 and job.result == {"attempt": 3}
    # demo.flaky's policy: 0.5 s then 1.0 s, no jitter; the scheduler ticks every 0.2 s.
    gaps = [(b.started_at - a.finished_at).total_seconds() for a, b in zip(attempts, attempts[1:])]
    assert 0.5 <= gaps[0] < 1.0, gaps
    assert 1.0 <= gaps[1] < 1.5, gaps


def test_always_failing_job_lands_in_the_dead_letter_queue_and_can_be_requeued(processes):
    processes.worker()
    processes.scheduler()
    job = job_enqueue(type="demo.fail", payload={"message": "boom"}).job
    job = wait_status(job.id, JobStatus.FAILED)
    assert outcomes(job.id) == ["error", "error", "error"]
    assert job.error == "RuntimeError: boom" and job.finished_at is not None
    attempt = JobAttempt.objects.get(job=job, number=3)
    assert attempt.error_type == "RuntimeError" and "raise RuntimeError" in attempt.traceback
    assert list(job_list(status=JobStatus.FAILED)) == [job]

    job_requeue(job_id=job.id)
    wait_for(lambda: len(outcomes(job.id)) == 6 and status_of(job.id) == JobStatus.FAILED, timeout=20,
             message="requeued job to run its fresh attempts")
    assert QueueJob.objects.get(pk=job.id).max_attempts == 6


def test_permanent_error_skips_the_remaining_attempts(processes):
    processes.worker()
    job = job_enqueue(type="demo.fail", payload={"permanent": True}).job
    wait_status(job.id, JobStatus.FAILED)
    assert outcomes(job.id) == ["error"]


def test_hung_handler_is_stopped_at_its_timeout(processes):
    processes.worker()
    job = job_enqueue(type="demo.sleep", payload={"seconds": 30, "steps": 1}, timeout=0.5, max_attempts=1).job
    job = wait_status(job.id, JobStatus.FAILED, timeout=10)
    attempt = JobAttempt.objects.get(job=job)
    assert attempt.outcome == AttemptOutcome.TIMEOUT and attempt.error_type == "JobTimeout"
    assert 0.5 <= attempt.duration < 2


def test_timed_out_attempt_is_retried_by_policy(processes):
    processes.worker()
    processes.scheduler()
    job = job_enqueue(type="demo.sleep", payload={"seconds": 30, "steps": 1}, timeout=0.3, max_attempts=2).job
    wait_status(job.id, JobStatus.FAILED, timeout=15)
    assert outcomes(job.id) == ["timeout", "timeout"]


def test_sigterm_lets_a_job_that_fits_the_grace_period_finish(processes):
    worker = processes.worker(shutdown_timeout=10)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1.5, "steps": 3}).job
    wait_status(job.id, JobStatus.ACTIVE)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert status_of(job.id) == JobStatus.COMPLETED and outcomes(job.id) == ["completed"]


def test_sigterm_puts_back_a_job_that_does_not_fit_and_it_completes_later(processes):
    worker = processes.worker(shutdown_timeout=0.5)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 2, "steps": 4}).job
    wait_status(job.id, JobStatus.ACTIVE)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    row = QueueJob.objects.get(pk=job.id)
    assert row.status == JobStatus.PENDING and row.interruptions == 1 and row.dispatched_at is not None
    assert outcomes(job.id) == [AttemptOutcome.INTERRUPTED]

    processes.worker()
    job = wait_status(job.id, JobStatus.COMPLETED, timeout=15)
    assert outcomes(job.id) == ["interrupted", "completed"]
    assert job.attempts == 2 and job.attempts - job.interruptions == 1  # the interrupted run was not charged


def test_second_signal_stops_the_job_at_once_and_puts_it_back(processes):
    worker = processes.worker(shutdown_timeout=60)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 30, "steps": 30}).job
    wait_status(job.id, JobStatus.ACTIVE)
    worker.send_signal(signal.SIGTERM)
    time.sleep(1.1)  # RQ ignores a second signal within 1 s of the first (its duplicate-delivery guard)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert status_of(job.id) == JobStatus.PENDING and outcomes(job.id) == ["interrupted"]


def test_cancelling_an_active_job_stops_it_at_its_next_progress_call(processes):
    processes.worker()
    job = job_enqueue(type="demo.sleep", payload={"seconds": 20, "steps": 100}).job
    wait_status(job.id, JobStatus.ACTIVE)
    job_cancel(job_id=job.id)
    job = wait_status(job.id, JobStatus.CANCELLED, timeout=5)
    assert outcomes(job.id) == ["cancelled"] and job.finished_at is not None


def test_lower_priority_number_runs_first(processes):
    low = job_enqueue(type="demo.noop", payload={}, priority=9).job
    normal = job_enqueue(type="demo.noop", payload={}).job
    high = job_enqueue(type="demo.noop", payload={}, priority=0).job
    proc = processes.start("run_worker", "default", "--burst", "--concurrency", "1", name="burst")  # one at a time
    assert proc.wait(timeout=30) == 0
    started = dict(JobAttempt.objects.values_list("job_id", "started_at"))
    assert started[high.id] < started[normal.id] < started[low.id]


def test_duplicate_delivery_runs_the_job_once(processes):
    from jobs.core.transport import Dispatch, new_rq_id
    from jobs.engine.dispatch import dispatch

    job = job_enqueue(type="demo.noop", payload={}).job
    dispatch([Dispatch(job.id, job.queue, job.priority, new_rq_id(job.id))])  # a second copy in Redis
    proc = processes.start("run_worker", "--burst", name="burst")
    assert proc.wait(timeout=30) == 0
    assert outcomes(job.id) == ["completed"]


def test_scheduled_job_runs_when_due(processes):
    processes.worker()
    processes.scheduler()
    job = job_enqueue(type="demo.noop", payload={}, delay=0.5).job
    assert job.status == JobStatus.SCHEDULED
    job = wait_status(job.id, JobStatus.COMPLETED, timeout=10)
    assert (job.started_at - job.run_at).total_seconds() < 1.0


def test_redis_down_at_enqueue_keeps_the_job_until_redis_returns(processes, private_redis, settings):
    from devstack.services import start_valkey

    settings.REDIS_URL = private_redis.url
    port, data_dir = private_redis.port, private_redis.data_dir
    private_redis.stop()
    job = job_enqueue(type="demo.noop", payload={}).job
    row = QueueJob.objects.get(pk=job.id)
    assert row.status == JobStatus.PENDING and row.dispatched_at is None

    restarted = start_valkey(data_dir, port=port)
    try:
        env = processes.env(REDIS_URL=restarted.url)
        processes.worker(env=env)
        processes.scheduler(env=env)
        job = wait_status(job.id, JobStatus.COMPLETED, timeout=15)
        assert outcomes(job.id) == ["completed"] and job.finished_at <= timezone.now()
    finally:
        restarted.stop()
