"""A cancel asked for over HTTP outlives the worker that was running the job.

The handler (``demo.spin``) never reports progress, so only the path that
ends the attempt can honour the request: the lifeline after a SIGKILL, the
shutdown after a SIGTERM. Another worker stands by: without the fix it would
run the job again.
"""
from __future__ import annotations

import signal

import pytest
from django.test import Client

from jobs.core.states import JobStatus
from jobs.models import JobAttempt, QueueJob
from tests.conftest import wait_for
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = pytest.mark.django_db(transaction=True)

FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@pytest.fixture
def api() -> Client:
    return bearer_client(make_user("operator", *ALL_PERMISSIONS))


def start_and_cancel(api: Client, processes, env, **options: str) -> tuple[str, object]:
    """A spinning job on a worker of its own, then a cancel request over HTTP; (job id, that worker)."""
    doomed = processes.worker("default", env=env, concurrency="1", **options)
    response = post_json(api, "/api/jobs", {"type": "demo.spin", "payload": {"seconds": 6}})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    wait_for(lambda: QueueJob.objects.get(pk=job_id).status == JobStatus.ACTIVE, message="the job to start")
    assert post_json(api, f"/api/jobs/{job_id}/cancel").status_code == 202
    assert QueueJob.objects.get(pk=job_id).cancel_requested
    return job_id, doomed


def final_state(api: Client, job_id: str) -> dict:
    def final() -> dict | None:
        body = api.get(f"/api/jobs/{job_id}").json()
        return body if body["status"] in FINAL else None

    return wait_for(final, timeout=20, message="the job to end")


def outcomes(job_id: str) -> list[str]:
    return list(JobAttempt.objects.filter(job_id=job_id).order_by("number").values_list("outcome", flat=True))


def test_a_cancel_requested_before_the_worker_was_killed_is_honoured_by_the_lifeline(api, processes):
    env = processes.env(JOB_LEASE_SECONDS="1")
    job_id, doomed = start_and_cancel(api, processes, env)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    processes.worker("default", env=env)  # would run the job again
    processes.scheduler(env=env)
    assert final_state(api, job_id)["status"] == JobStatus.CANCELLED
    assert outcomes(job_id) == ["lost"]


def test_a_cancel_requested_before_a_shutdown_is_honoured_by_the_interruption(api, processes):
    env = processes.env()
    job_id, doomed = start_and_cancel(api, processes, env, shutdown_timeout="0")
    processes.worker("default", env=env)  # would run the job again
    doomed.send_signal(signal.SIGTERM)
    assert doomed.wait(timeout=10) == 0
    assert final_state(api, job_id)["status"] == JobStatus.CANCELLED
    assert outcomes(job_id) == ["interrupted"]
