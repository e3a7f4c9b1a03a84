"""jobs.cli.follow_job (enqueue_job --wait): follows the event stream, polls the row without Redis."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import override_settings

from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.events import emit as events
from jobs.events.emit import emit, job_event
from jobs.management.cli import follow_job
from jobs.models import QueueJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_follow_job_yields_each_event_without_reading_the_row() -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1}).job

    def worker() -> None:  # events only: the row stays "pending", so whatever is seen came by event
        time.sleep(0.2)
        emit([job_event("job:active", job, status="active", attempts=1)])
        for n in (1, 2, 3):
            emit([job_event("job:progress", job, status="active", attempts=1,
                            progress={"percent": 30 * n, "stage": f"stage {n}", "message": f"msg {n}"})])
        emit([job_event("job:completed", job, status="completed", attempts=1, result={"done": True},
                        progress={"percent": 100, "stage": "stage 3", "message": "msg 3"})])

    thread = threading.Thread(target=worker)
    thread.start()
    seen = list(follow_job(job.id, timeout=10))
    thread.join()
    assert [(j["status"], j["progress"]["percent"], j["progress"]["stage"]) for j in seen] == [
        ("pending", 0, ""), ("active", 0, ""), ("active", 30, "stage 1"), ("active", 60, "stage 2"),
        ("active", 90, "stage 3"), ("completed", 100, "stage 3"),
    ]
    assert seen[-1]["result"] == {"done": True} and seen[-1]["progress"]["message"] == "msg 3"
    assert QueueJob.objects.get(pk=job.pk).status == JobStatus.PENDING


def test_follow_job_polls_the_row_when_redis_is_unreachable() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    steps = [{"status": JobStatus.ACTIVE, "progress_percent": 40, "progress_stage": "half"}, {},
             {"status": JobStatus.COMPLETED, "progress_percent": 100}]

    def sleep(_: float) -> None:  # the "worker" moves the job on between polls
        QueueJob.objects.filter(pk=job.pk).update(**steps.pop(0))

    events.flush()  # the event thread must not publish to the unreachable Redis below
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        seen = [(j["status"], j["progress"]["percent"]) for j in follow_job(job.id, sleep=sleep, interval=0.01)]
    assert seen == [("pending", 0), ("active", 40), ("completed", 100)]


def test_follow_job_rereads_the_row_when_no_event_comes() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job

    def finish_silently() -> None:  # a change that emits nothing (or whose event was lost)
        time.sleep(0.2)
        QueueJob.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, progress_percent=100)
        connection.close()  # this thread's connection, back to the pool (the test database is dropped at the end)

    thread = threading.Thread(target=finish_silently)
    thread.start()
    seen = [j["status"] for j in follow_job(job.id, timeout=10)]
    thread.join()
    assert seen == ["pending", "completed"]


def test_follow_job_yields_whole_payload_and_result_when_events_carry_previews() -> None:
    body = "b" * 100_000
    job = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "s", "body": body}).job
    result = {"text": "r" * 100_000}

    def worker() -> None:  # events carry previews (JOB_EVENT_PREVIEW_BYTES): the row has it all
        time.sleep(0.2)
        emit([job_event("job:active", job, status="active", attempts=1)])
        QueueJob.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, attempts=1, result=result)
        emit([job_event("job:completed", job, status="completed", attempts=1, result=result)])
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    seen = list(follow_job(job.id, timeout=10))
    thread.join()
    assert [j["status"] for j in seen] == ["pending", "active", "completed"]
    assert all(j["payload"]["body"] == body and "truncated" not in j for j in seen)
    assert seen[-1]["result"] == result
