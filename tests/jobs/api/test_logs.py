"""GET /api/jobs/{id}/logs: what handlers logged, per attempt; the same access as the other job reads.

The first tests need no worker (rows written directly); the last ones run real
worker processes (the project's worker and plain rqworker) on ``demo.log``.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs.api.tokens import api_token_create, api_tokens_revoke
from jobs.core.log_lines import LogLine
from jobs.engine.attempt_logs import attempt_logs_append
from jobs.engine.enqueue import job_enqueue
from jobs.models import ApiToken, JobAttempt, QueueJob
from tests.conftest import Processes, wait_for
from tests.jobs.api.test_api_worker import poll_until
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user


def job_with_two_attempts() -> QueueJob:
    start = timezone.now() - timedelta(seconds=5)
    job = QueueJob.objects.create(type="demo.log", queue="default", status="active", timeout=1, attempts=2)
    first = JobAttempt.objects.create(job=job, number=1, started_at=start, finished_at=start, outcome="error")
    second = JobAttempt.objects.create(job=job, number=2, started_at=timezone.now())
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    attempt_logs_append([LogLine(first.id, str(job.id), 1, 1, at, "INFO", "starting"),
                         LogLine(first.id, str(job.id), 1, 2, at, "ERROR", "gave up <b>"),
                         LogLine(second.id, str(job.id), 2, 1, at, "INFO", "starting again")])
    return job


@pytest.mark.django_db
def test_logs_are_listed_per_attempt_oldest_first_with_numbers_times_and_levels(db: None) -> None:
    viewer = bearer_client(make_user("viewer", "view_queuejob"), token_name="viewer")
    job = job_with_two_attempts()
    response = viewer.get(f"/api/jobs/{job.id}/logs")
    assert response.status_code == 200, response.content
    first, second = response.json()
    assert (first["attempt"], first["outcome"], second["attempt"], second["outcome"]) == (1, "error", 2, "")
    assert first["lines"] == [
        {"number": 1, "at": "2026-01-02T03:04:05.678Z", "level": "INFO", "message": "starting"},
        {"number": 2, "at": "2026-01-02T03:04:05.678Z", "level": "ERROR", "message": "gave up <b>"}]
    assert [line["message"] for line in second["lines"]] == ["starting again"]
    assert first["finished_at"] and second["finished_at"] is None

    only = viewer.get(f"/api/jobs/{job.id}/logs?attempt=2").json()
    assert [a["attempt"] for a in only] == [2]
    assert viewer.get(f"/api/jobs/{job.id}/logs?attempt=7").json() == []
    fresh = QueueJob.objects.create(type="demo.log", queue="default", timeout=1)
    assert viewer.get(f"/api/jobs/{fresh.id}/logs").json() == []  # not run yet: no attempt, no log


@pytest.mark.django_db
@pytest.mark.parametrize("path", [
    "/api/jobs/{id}/logs", "/api/jobs/00000000-0000-0000-0000-000000000000/logs", "/api/jobs/not-a-job/logs",
    "/api/jobs/%00%ff/logs", "/api/jobs/{id}x/logs", "/api/jobs/" + "9" * 300 + "/logs"])
def test_callers_without_view_access_are_refused_like_for_the_other_job_reads(path: str) -> None:
    job = job_with_two_attempts()
    path = path.replace("{id}", str(job.id))
    assert Client().get(path).status_code == 401  # no credentials
    holder = make_user("holder", *[p for p in ALL_PERMISSIONS if p != "view_queuejob"])
    no_view = bearer_client(holder, token_name="no-view")
    assert no_view.get(path).status_code == 403
    assert no_view.get(f"/api/jobs/{job.id}").status_code == 403  # as the job itself
    viewer = make_user("viewer", "view_queuejob")
    token, key = api_token_create(user=viewer, name="write-only", scopes=["enqueue", "act"])
    assert Client(headers={"authorization": f"Bearer {key}"}).get(path).status_code == 403  # no read scope
    api_tokens_revoke(ApiToken.objects.filter(pk=token.pk))
    assert Client(headers={"authorization": f"Bearer {key}"}).get(path).status_code == 401
    staff = make_user("visitor", staff=False)
    staff.user_permissions.set([])
    assert bearer_client(staff, token_name="visitor").get(path).status_code in (401, 403)


@pytest.mark.django_db
def test_unknown_and_malformed_ids_are_404_and_a_bad_attempt_is_422_never_500() -> None:
    viewer = bearer_client(make_user("viewer", "view_queuejob"), token_name="viewer")
    job = job_with_two_attempts()
    for path in ["/api/jobs/00000000-0000-0000-0000-000000000000/logs", "/api/jobs/not-a-job/logs",
                 "/api/jobs/%00/logs", f"/api/jobs/{job.id}0/logs", "/api/jobs/" + "f" * 5000 + "/logs"]:
        response = viewer.get(path)
        assert response.status_code == 404, (path, response.content)
        assert response.json() == {"detail": "job not found"}
    for query in ["attempt=0", "attempt=-1", "attempt=abc", "attempt=1.5", "attempt=99999999999999999999",
                  "attempt=%00", "attempt="]:
        response = viewer.get(f"/api/jobs/{job.id}/logs?{query}")
        assert response.status_code == 422, (query, response.content)
        assert response.json()["detail"][0]["field"] == "attempt"


def test_openapi_lists_the_endpoint(db: None) -> None:
    schema = Client().get("/api/openapi.json").json()
    assert "get" in schema["paths"]["/api/jobs/{job_id}/logs"]
    assert {"AttemptLogShape", "LogLineShape"} <= set(schema["components"]["schemas"])


# --- With real workers --------------------------------------------------------------


@pytest.fixture
def api(transactional_db: None) -> Client:
    return bearer_client(make_user("operator", *ALL_PERMISSIONS))


def messages(attempt: dict[str, Any]) -> list[str]:
    return [line["message"] for line in attempt["lines"]]


def test_a_job_that_fails_once_then_succeeds_has_both_attempts_logs(api: Client, processes: Processes) -> None:
    job = job_enqueue(type="demo.log", payload={"lines": 4, "failures": 1}).job
    processes.worker("default")
    processes.scheduler()  # promotes the retry
    poll_until(api, str(job.id), "completed")
    first, second = api.get(f"/api/jobs/{job.id}/logs").json()
    assert (first["attempt"], first["outcome"], second["attempt"], second["outcome"]) == (1, "error", 2, "completed")
    assert messages(first) == [f"attempt 1 line {n}" for n in range(1, 5)] + ["attempt 1 fails on purpose"]
    assert messages(second) == [f"attempt 2 line {n}" for n in range(1, 5)]
    assert [line["level"] for line in first["lines"]] == ["INFO"] * 4 + ["WARNING"]
    assert [line["number"] for line in second["lines"]] == [1, 2, 3, 4]
    times = [datetime.fromisoformat(line["at"]) for line in first["lines"] + second["lines"]]
    assert times == sorted(times) and times[0] >= job.created_at


def test_the_cap_keeps_that_many_lines_then_one_marker(api: Client, processes: Processes) -> None:
    processes.worker("default", env=processes.env(JOB_LOG_MAX_LINES="5"))
    job = job_enqueue(type="demo.log", payload={"lines": 40}).job
    poll_until(api, str(job.id), "completed")
    (attempt,) = api.get(f"/api/jobs/{job.id}/logs").json()
    assert messages(attempt)[:5] == [f"attempt 1 line {n}" for n in range(1, 6)]
    assert len(attempt["lines"]) == 6  # the cap, then the marker
    marker = attempt["lines"][-1]
    assert marker["level"] == "WARNING" and marker["number"] == 6
    assert marker["message"].startswith("… 35 more lines dropped: an attempt keeps at most 5 lines")

    processes.stop_all()
    small = job_enqueue(type="demo.log", payload={"lines": 40}).job
    processes.worker("default", env=processes.env(JOB_LOG_MAX_BYTES="100"))
    poll_until(api, str(small.id), "completed")
    (attempt,) = api.get(f"/api/jobs/{small.id}/logs").json()
    kept = attempt["lines"][:-1]
    assert sum(len(line["message"].encode()) for line in kept) <= 100 < sum(
        len(f"attempt 1 line {n}".encode()) for n in range(1, len(kept) + 2))
    assert attempt["lines"][-1]["message"].startswith(f"… {40 - len(kept)} more lines dropped")


def test_lines_of_a_running_job_are_served_before_it_ends(api: Client, processes: Processes) -> None:
    job = job_enqueue(type="demo.log", payload={"lines": 30, "line_seconds": 0.2}).job
    processes.worker("default")

    def some_lines_while_active() -> list[str] | None:
        logs = api.get(f"/api/jobs/{job.id}/logs").json()
        running = QueueJob.objects.get(pk=job.pk).status == "active"
        return messages(logs[0]) if logs and logs[0]["lines"] and running else None

    lines = wait_for(some_lines_while_active, timeout=15, interval=0.1, message="lines of the running attempt")
    assert lines[0] == "attempt 1 line 1" and len(lines) < 30


def test_plain_rqworker_keeps_the_log_too(api: Client, processes: Processes) -> None:
    job = job_enqueue(type="demo.log", payload={"lines": 6, "line_seconds": 0.1, "failures": 1}).job
    worker = processes.start("rqworker", "default", "--burst", name="rqworker")
    assert worker.wait(timeout=60) == 0, processes.output(worker)
    (first,) = api.get(f"/api/jobs/{job.id}/logs").json()
    assert first["outcome"] == "error"
    assert messages(first) == [f"attempt 1 line {n}" for n in range(1, 7)] + ["attempt 1 fails on purpose"]
