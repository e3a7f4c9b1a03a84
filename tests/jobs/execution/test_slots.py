"""The concurrent worker, as real processes: slots, time limits in threads, shutdown and crashes with many
runs in flight, fencing by attempt."""
import signal

import pytest
from django.test import Client
from django.db.models import Max, Min

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.models import JobAttempt, QueueJob
from tests.conftest import make_user, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(jobs) -> list[str]:
    return [QueueJob.objects.values_list("status", flat=True).get(pk=job.id) for job in jobs]


def outcomes(job_id) -> list[str]:
    return list(JobAttempt.objects.filter(job_id=job_id).order_by("number").values_list("outcome", flat=True))


def all_in(jobs, *states: str, timeout: float = 20) -> None:
    wait_for(lambda: all(s in states for s in statuses(jobs)), timeout=timeout, message=f"jobs to be {states}")


def test_n_slots_run_n_jobs_at_once_and_the_next_waits_for_a_free_slot(processes):
    jobs = job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": 1, "steps": 2}}] * 4)
    processes.worker("default", concurrency=3)
    wait_for(lambda: statuses(jobs).count(JobStatus.ACTIVE) == 3, message="three jobs running at once")
    client = Client()
    client.force_login(make_user("watcher"))
    assert "and 2 more" in client.get("/admin/queues/workers/").content.decode()  # the workers page counts them
    all_in(jobs, JobStatus.COMPLETED)
    attempts = {a.job_id: a for a in JobAttempt.objects.filter(job__in=jobs)}
    first = [attempts[job.id] for job in jobs[:3]]
    spread = max(a.started_at for a in first) - min(a.started_at for a in first)
    assert spread.total_seconds() < 0.5, spread  # the three overlapped in one process
    assert len({a.pid for a in attempts.values()}) == 1
    waited = attempts[jobs[3].id].started_at - min(a.started_at for a in first)
    assert waited.total_seconds() >= 0.95, waited  # the fourth waited for a slot (each job takes 1 s)


def test_async_handlers_share_the_workers_event_loop(processes):
    jobs = job_enqueue_many([{"type": "demo.async_sleep", "payload": {"seconds": 1, "steps": 2}}] * 5)
    processes.worker("default", concurrency=5)
    all_in(jobs, JobStatus.COMPLETED)
    span = JobAttempt.objects.filter(job__in=jobs).aggregate(first=Min("started_at"), last=Max("finished_at"))
    assert (span["last"] - span["first"]).total_seconds() < 2.5  # five one-second sleeps, concurrently
    assert QueueJob.objects.get(pk=jobs[0].id).result == {"slept": 1.0}


def test_a_hung_pure_python_handler_is_stopped_at_its_timeout_while_other_slots_run(processes):
    processes.worker("default", concurrency=2)
    hung = job_enqueue(type="demo.spin", payload={"seconds": 60}, timeout=0.5, max_attempts=1).job
    other = job_enqueue(type="demo.sleep", payload={"seconds": 1.5, "steps": 3}).job
    all_in([hung], JobStatus.FAILED)
    attempt = JobAttempt.objects.get(job=hung)
    assert attempt.outcome == AttemptOutcome.TIMEOUT and attempt.error_type == "JobTimeout"
    assert 0.5 <= attempt.duration < 1.0  # raised in its thread at the limit, not written off later
    assert "written off" not in attempt.error_message
    all_in([other], JobStatus.COMPLETED)


def test_a_handler_blocked_in_c_is_written_off_retried_and_the_worker_exits_for_a_restart(processes):
    env = processes.env(JOB_TIMEOUT_GRACE="0.5")
    worker = processes.worker("default", concurrency=1, env=env)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 60, "steps": 1}, timeout=0.3, max_attempts=2).job
    assert worker.wait(timeout=15) == 75, processes.output(worker)  # its only slot is lost: exit for a restart
    attempt = JobAttempt.objects.get(job=job, number=1)
    assert attempt.outcome == AttemptOutcome.TIMEOUT and "written off" in attempt.error_message
    assert QueueJob.objects.get(pk=job.id).status == JobStatus.RETRYING  # retried by its policy


def test_sigterm_with_many_runs_in_flight_finishes_those_that_fit_and_puts_back_the_rest(processes):
    worker = processes.worker("default", concurrency=4, shutdown_timeout=1)
    short = job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": 0.6, "steps": 3}}] * 2)
    long = job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": 5, "steps": 25}}] * 2)
    all_in(short + long, JobStatus.ACTIVE, JobStatus.COMPLETED)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, processes.output(worker)
    assert statuses(short) == [JobStatus.COMPLETED] * 2
    assert statuses(long) == [JobStatus.PENDING] * 2
    for job in long:
        assert outcomes(job.id) == [AttemptOutcome.INTERRUPTED]
        row = QueueJob.objects.get(pk=job.id)
        assert row.interruptions == 1 and row.dispatched_at is not None  # back in Redis, not charged
    processes.worker("default", concurrency=4)
    all_in(long, JobStatus.COMPLETED, timeout=30)


def test_sigkill_with_many_runs_in_flight_loses_none_and_runs_none_twice(processes):
    env = processes.env(JOB_LEASE_SECONDS="1.5")
    doomed = processes.worker("default", concurrency=3, env=env)
    jobs = job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": 2, "steps": 4}}] * 3)
    all_in(jobs, JobStatus.ACTIVE)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    processes.worker("default", concurrency=3, env=env)
    processes.scheduler(env=env)
    all_in(jobs, JobStatus.COMPLETED, timeout=30)
    for job in jobs:
        assert outcomes(job.id) == [AttemptOutcome.LOST, AttemptOutcome.COMPLETED]


def test_a_run_whose_lease_was_lost_is_stopped_and_cannot_write_progress_or_finish(processes):
    env = processes.env(JOB_LEASE_SECONDS="1.5")
    worker = processes.worker("default", concurrency=1, env=env)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 8, "steps": 40}).job
    all_in([job], JobStatus.ACTIVE)
    wait_for(lambda: QueueJob.objects.get(pk=job.id).progress_percent > 0, message="progress")
    # What the lifeline does when the worker was cut off for longer than its lease:
    attempt = JobAttempt.objects.get(job=job, number=1)
    JobAttempt.objects.filter(pk=attempt.pk).update(outcome=AttemptOutcome.LOST, finished_at=attempt.started_at)
    QueueJob.objects.filter(pk=job.id).update(status=JobStatus.RETRYING)
    wait_for(lambda: "event=lease_lost" in processes.output(worker), timeout=5, message="the renewal to find it")
    frozen = QueueJob.objects.values_list("progress_percent", "progress_updated_at").get(pk=job.id)
    # The run let go of the only slot at once (it would have held it ~7 s more): the next job runs now.
    after = job_enqueue(type="demo.noop", payload={}).job
    all_in([after], JobStatus.COMPLETED, timeout=3)
    row = QueueJob.objects.get(pk=job.id)
    assert (row.progress_percent, row.progress_updated_at) == frozen and row.status == JobStatus.RETRYING
    assert outcomes(job.id) == [AttemptOutcome.LOST]
    assert worker.poll() is None  # the worker carries on
