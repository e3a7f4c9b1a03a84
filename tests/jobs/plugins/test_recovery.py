"""Crash recovery, Redis loss and leader election, with real processes.

Tests that stop or flush Redis use a private Valkey (``private_redis``), never
the shared one.
"""
import signal
import time
from datetime import timedelta

import pytest
import redis
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobAttempt, QueueJob, Schedule, ScheduleFiring, SchedulerHeartbeat
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def outcomes(job_id) -> list[str]:
    return list(JobAttempt.objects.filter(job_id=job_id).order_by("number").values_list("outcome", flat=True))


def count(status: str) -> int:
    return QueueJob.objects.filter(status=status).count()


def test_sigkilled_worker_job_is_rescued_and_completed_by_another(processes):
    env = processes.env(JOB_LEASE_SECONDS="1.5")
    doomed = processes.worker(env=env)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1, "steps": 2}).job
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.ACTIVE, message="job to start")
    doomed.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    doomed.wait()
    processes.worker(env=env)
    processes.scheduler(env=env)
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.COMPLETED, timeout=20,
             message="rescued job to complete")
    recovery = time.monotonic() - killed_at
    print(f"recovery: SIGKILLed worker's job completed by another {recovery:.1f} s after the kill (lease 1.5 s)")
    assert outcomes(job.id) == ["lost", "completed"]
    lost = JobAttempt.objects.get(job_id=job.id, number=1)
    assert lost.error_type == "WorkerLost" and lost.finished_at is not None
    assert recovery < 10, recovery


def test_lost_attempt_is_charged_and_exhausted_jobs_fail(processes):
    env = processes.env(JOB_LEASE_SECONDS="1")
    doomed = processes.worker(env=env)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 30, "steps": 1}, max_attempts=1).job
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.ACTIVE, message="job to start")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    processes.scheduler(env=env)
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.FAILED, timeout=15,
             message="lost job with no attempts left to fail")
    assert outcomes(job.id) == ["lost"]


def test_flushall_with_100_pending_jobs_loses_none_and_runs_none_twice(processes, private_redis, settings):
    settings.REDIS_URL = private_redis.url
    from jobs.engine.enqueue import job_enqueue_many

    jobs = job_enqueue_many([{"type": "demo.noop"} for _ in range(100)])
    client = redis.Redis.from_url(private_redis.url)
    assert client.dbsize() > 0
    client.flushall()
    env = processes.env(REDIS_URL=private_redis.url, JOB_RECONCILE_AFTER="0.5")
    processes.scheduler(env=env)
    processes.worker(env=env)
    started = time.monotonic()
    wait_for(lambda: count(JobStatus.COMPLETED) == 100, timeout=30, message="all 100 jobs to complete")
    print(f"recovery: 100 jobs lost by FLUSHALL all completed {time.monotonic() - started:.1f} s after "
          "scheduler and worker were up (reconcile after 0.5 s)")
    assert JobAttempt.objects.count() == 100  # none ran twice
    assert {job.id for job in jobs} == set(QueueJob.objects.values_list("id", flat=True))


def test_redis_stopped_api_still_answers_202_and_jobs_complete_when_it_returns(
    processes, private_redis, settings, client
):
    from devstack.services import start_valkey

    settings.REDIS_URL = private_redis.url
    port, data_dir = private_redis.port, private_redis.data_dir
    private_redis.stop()
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(admin)
    ids = []
    for n in range(20):
        response = client.post("/api/jobs", {"type": "demo.noop", "payload": {}}, content_type="application/json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    assert count(JobStatus.PENDING) == 20

    restarted = start_valkey(data_dir, port=port)
    back = time.monotonic()
    try:
        env = processes.env(REDIS_URL=restarted.url)
        processes.scheduler(env=env)
        processes.worker(env=env)
        wait_for(lambda: count(JobStatus.COMPLETED) == 20, timeout=30, message="all 20 jobs to complete")
        print(f"recovery: 20 jobs accepted while Redis was down all completed {time.monotonic() - back:.1f} s "
              "after Redis came back (including scheduler and worker start-up)")
        assert JobAttempt.objects.count() == 20
    finally:
        restarted.stop()


def test_two_schedulers_fire_each_time_once_and_the_standby_takes_over(processes):
    Schedule.objects.all().delete()
    Schedule.objects.create(name="every-second", job_type="demo.noop", cron="* * * * * *")
    first = processes.scheduler()
    wait_for(lambda: SchedulerHeartbeat.objects.exists(), message="a leader")
    second = processes.scheduler()
    leader_holder = SchedulerHeartbeat.objects.get().holder
    leader, standby = (first, second) if leader_holder.endswith(f".{first.pid}") else (second, first)
    wait_for(lambda: ScheduleFiring.objects.count() >= 3, timeout=10, message="three firings")

    leader.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    leader.wait()
    fired_before = ScheduleFiring.objects.count()
    wait_for(lambda: SchedulerHeartbeat.objects.get().holder.endswith(f".{standby.pid}"), timeout=10,
             message="the standby to take over")
    print(f"recovery: standby scheduler took over {time.monotonic() - killed_at:.1f} s after the leader's SIGKILL")
    wait_for(lambda: ScheduleFiring.objects.count() >= fired_before + 3, timeout=10, message="firings to go on")

    standby.send_signal(signal.SIGTERM)
    assert standby.wait(timeout=10) == 0
    fire_times = list(ScheduleFiring.objects.values_list("fire_time", flat=True))
    assert len(fire_times) == len(set(fire_times))  # the unique constraint's promise, observed
    jobs = QueueJob.objects.filter(source="schedule")
    assert jobs.count() == len(fire_times)
    assert len(set(jobs.values_list("correlation_id", flat=True))) == jobs.count()


def test_retention_keeps_the_newest_completed_and_never_touches_live_jobs(settings):
    from jobs.core.config import get_config
    from jobs.plugins.pruner import prune_jobs, prune_preview

    settings.JOB_QUEUES = {**settings.JOB_QUEUES,
                           "default": {**settings.JOB_QUEUES["default"], "keep_completed": (5, None)}}
    get_config.cache_clear()
    now = timezone.now()
    completed = []
    for n in range(12):
        job = job_enqueue(type="demo.noop", payload={}).job
        QueueJob.objects.filter(pk=job.id).update(status=JobStatus.COMPLETED,
                                                 finished_at=now - timedelta(minutes=n))
        JobAttempt.objects.create(job=job, number=1, started_at=now, finished_at=now, outcome="completed")
        completed.append(job.id)
    live = [job_enqueue(type="demo.noop", payload={}).job.id for _ in range(3)]
    QueueJob.objects.filter(pk=live[0]).update(status=JobStatus.ACTIVE)
    QueueJob.objects.filter(pk=live[1]).update(status=JobStatus.RETRYING, run_at=now)

    assert [c.count for c in prune_preview() if (c.queue, c.policy) == ("default", "completed")] == [7]
    deleted = {(c.queue, c.policy): c.count for c in prune_jobs(batch_size=3)}
    assert deleted[("default", "completed")] == 7
    remaining = set(QueueJob.objects.filter(status=JobStatus.COMPLETED).values_list("id", flat=True))
    assert remaining == set(completed[:5])  # the five most recently finished
    assert set(live) <= set(QueueJob.objects.values_list("id", flat=True))
    assert JobAttempt.objects.count() == 5


def test_healthz_names_redis_while_it_is_down(private_redis, settings, client, processes):
    from devstack.services import start_valkey

    settings.REDIS_URL = private_redis.url
    env = processes.env(REDIS_URL=private_redis.url)
    processes.scheduler(env=env)
    worker = processes.worker(env=env)
    wait_for(lambda: client.get("/healthz").status_code == 200, timeout=10, message="healthy")
    port, data_dir = private_redis.port, private_redis.data_dir
    private_redis.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["failing"] and "database" not in body["failing"]
    assert private_redis.url not in response.content.decode()
    restarted = start_valkey(data_dir, port=port)
    try:
        wait_for(lambda: client.get("/healthz").status_code == 200, timeout=20,
                 message="healthy again (worker re-registered)")
        assert worker.poll() is None  # the worker outlived the outage
    finally:
        restarted.stop()
