"""The API against real worker processes: jobs enqueued over HTTP really run.

Rows must be committed for the worker subprocess to see them, hence
``transactional_db``. Every wait polls (``wait_for``); nothing sleeps a fixed time.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.models import JobAttempt, QueueJob
from tests.conftest import wait_for
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = (
    "Background jobs keep web requests fast. A job queue stores work for later. "
    "Workers take jobs from the queue and run them. The weather was pleasant that day. "
    "A reliable job queue never loses a job, even when workers crash."
)


@pytest.fixture
def api() -> Client:
    return bearer_client(make_user("operator", *ALL_PERMISSIONS))


def poll_until(client: Client, job_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
    """GET the job until it reaches one of ``statuses``; returns its last JSON."""

    def reached() -> dict[str, Any] | None:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.content
        body = response.json()
        return body if body["status"] in statuses else None

    return wait_for(reached, timeout=timeout, message=f"job {job_id} to reach {statuses}")


def test_acceptance_post_poll_completed_and_rows_agree(api: Client, processes: Any) -> None:
    processes.worker("default", "ai")
    response = post_json(api, "/api/jobs", {"type": "ai.summarize", "payload": {"text": TEXT, "max_sentences": 2}})
    assert response.status_code == 202, response.content
    accepted = response.json()
    assert accepted["status"] == "pending"

    body = poll_until(api, accepted["id"], "completed", "failed")
    assert body["status"] == "completed"
    assert body["progress"]["percent"] == 100
    assert body["result"]["kept"] == 2 and body["result"]["sentences"] == 5
    assert body["attempts"] == 1 and body["error"] is None
    assert body["started_at"] and body["finished_at"]

    job = QueueJob.objects.get(pk=accepted["id"])
    assert job.status == JobStatus.COMPLETED
    assert job.result == body["result"] and "A reliable job queue never loses a job" in job.result["summary"]
    attempt = JobAttempt.objects.get(job=job)
    assert (attempt.number, attempt.outcome, attempt.error_type) == (1, AttemptOutcome.COMPLETED, "")
    assert attempt.finished_at is not None and attempt.duration is not None and attempt.pid

    attempts = api.get(f"/api/jobs/{job.id}/attempts").json()
    assert [(a["number"], a["outcome"], a["worker"]) for a in attempts] == [(1, "completed", attempt.worker)]

    # A finished job cannot be cancelled.
    conflict = post_json(api, f"/api/jobs/{job.id}/cancel")
    assert conflict.status_code == 409 and "completed" in conflict.json()["detail"]


def test_retry_from_failed_runs_again(api: Client, processes: Any) -> None:
    processes.worker("default")
    payload = {"message": "backend said no", "permanent": True}
    job_id = post_json(api, "/api/jobs", {"type": "demo.fail", "payload": payload}).json()["id"]
    failed = poll_until(api, job_id, "failed")
    assert failed["attempts"] == 1 and failed["error"] == "PermanentError: backend said no"

    # The dead-letter queue is searchable by error text.
    found = api.get("/api/jobs", {"status": "failed", "q": "BACKEND SAID"}).json()["items"]
    assert [item["id"] for item in found] == [job_id]

    response = post_json(api, f"/api/jobs/{job_id}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    again = poll_until(api, job_id, "failed", timeout=20)
    assert again["attempts"] == 2
    attempts = api.get(f"/api/jobs/{job_id}/attempts").json()
    assert [(a["number"], a["outcome"], a["error_type"]) for a in attempts] == [
        (1, "error", "PermanentError"),
        (2, "error", "PermanentError"),
    ]
    assert "backend said no" in attempts[1]["error_message"] and attempts[1]["traceback"]


def test_paused_queue_holds_its_jobs_until_resumed(api: Client, processes: Any) -> None:
    assert post_json(api, "/api/queues/default/pause").json()["paused"] is True
    processes.worker("default", "email")
    held = post_json(api, "/api/jobs", {"type": "demo.noop"}).json()["id"]
    # A job on the same worker's other queue, in a lower band than the held one:
    # once it has run, the worker would have taken the held job first had its queue been running.
    probe = post_json(api, "/api/jobs", {"type": "demo.noop", "queue": "email", "priority": 9}).json()["id"]
    poll_until(api, probe, "completed")
    assert api.get(f"/api/jobs/{held}").json()["status"] == "pending"
    queue = {q["name"]: q for q in api.get("/api/queues").json()}["default"]
    assert queue["paused"] is True and queue["counts"]["pending"] == 1 and queue["workers"] == 1

    resumed = post_json(api, "/api/queues/default/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    poll_until(api, held, "completed")
