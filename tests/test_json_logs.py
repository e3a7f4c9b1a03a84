"""LOG_FORMAT=json: one JSON object per line, and a request's correlation id on every line of its job."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from jobs.api.tokens import api_token_create
from jobs.models import QueueJob
from tests.conftest import Processes, make_user, wait_for

SECRET = "payload-secret-7731"


@pytest.fixture
def json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before `server` and the workers start: they take the environment as it is then."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "INFO")


def post(base: str, key: str, body: dict, **headers: str) -> tuple[dict, Any]:
    request = urllib.request.Request(f"{base}/api/jobs", data=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()), response.headers


def json_lines(*paths: str) -> list[dict]:
    lines = [line for path in paths for line in Path(path).read_text().splitlines() if line.strip()]
    ours = [line for line in lines if not line.startswith(("worker ", "INFO:"))]  # the command's own banner
    return [json.loads(line) for line in ours]  # every log line parses


@pytest.mark.django_db(transaction=True)
def test_a_requests_correlation_id_is_on_every_json_line_of_its_job(json_env: None, server: str,
                                                                    processes: Processes) -> None:
    operator = make_user("operator", perms=("view_queuejob", "add_queuejob"))
    _, key = api_token_create(user=operator, name="ci")
    job, headers = post(server, key, {"type": "demo.flaky", "payload": {"failures": 1, "steps": 1}},
                        **{"X-Correlation-ID": "abc"})
    assert headers["X-Correlation-ID"] == "abc" and QueueJob.objects.get(pk=job["id"]).correlation_id == "abc"
    other, other_headers = post(server, key, {"type": "demo.noop", "payload": {}})  # no header: one is made
    made = other_headers["X-Correlation-ID"]
    assert len(made) == 32 and QueueJob.objects.get(pk=other["id"]).correlation_id == made

    worker = processes.worker("default")
    processes.scheduler()  # promotes the retry
    wait_for(lambda: QueueJob.objects.get(pk=job["id"]).status == "completed", timeout=30, message="the job")
    wait_for(lambda: any(r.get("event") == "job:completed" and r.get("job_id") == job["id"]
                         for r in json_lines(worker.log_path)), message="the completion line")
    records = json_lines(worker.log_path, str(Path(worker.log_path).parent / "uvicorn.log"))
    about = [r for r in records if r.get("correlation_id") == "abc"]
    events = [r.get("event") for r in about]
    assert "api_request" in events and "job:enqueued" in events, events
    assert events.count("job:active") == 2 and "attempt_failed" in events and "job:completed" in events, events
    handler = [r for r in about if r["logger"] == "jobs.handler.demo.flaky"]
    assert [r["attempt"] for r in handler] == [1, 2], handler
    for record in about:
        assert {"timestamp", "level", "logger"} <= set(record), record
    started = next(r for r in about if r.get("event") == "job:active")
    assert (started["job_id"], started["queue"], started["type"]) == (job["id"], "default", "demo.flaky")
    assert started["worker"].endswith(str(worker.pid))
    request = next(r for r in about if r.get("event") == "api_request")
    assert request["status"] == 202 and request["path"] == "/api/jobs" and request["method"] == "POST"


@pytest.mark.django_db(transaction=True)
def test_payloads_stay_out_of_the_logs_unless_asked(json_env: None, server: str, processes: Processes) -> None:
    _, key = api_token_create(user=make_user("operator", perms=("view_queuejob", "add_queuejob")), name="ci")
    post(server, key, {"type": "demo.sleep", "payload": {"seconds": 0, "steps": 1}, "unique_key": "k1"})
    post(server, key, {"type": "demo.fail", "payload": {"message": SECRET, "permanent": True}})
    worker = processes.worker("default")
    wait_for(lambda: QueueJob.objects.filter(status__in=["completed", "failed"]).count() == 2, message="the jobs")
    log = Path(worker.log_path).parent / "uvicorn.log"
    assert SECRET not in log.read_text()  # the enqueue's lines carry no payload


@pytest.mark.django_db
def test_a_job_enqueued_inside_other_work_carries_its_correlation_id_on() -> None:
    """What a handler (or a request) enqueues keeps the id of the work it came from; an explicit id wins."""
    from jobs.core.log_context import bound
    from jobs.engine.enqueue import job_enqueue

    with bound(correlation_id="parent-7"):
        child = job_enqueue(type="demo.noop").job
        named = job_enqueue(type="demo.noop", correlation_id="own").job
    assert (child.correlation_id, named.correlation_id) == ("parent-7", "own")
    assert job_enqueue(type="demo.noop").job.correlation_id == ""


@pytest.mark.parametrize("given", ["a b", "x" * 101, "line\nbreak", ""])
def test_a_correlation_id_that_could_forge_log_lines_is_replaced(client: Any, given: str, db: None) -> None:
    response = client.get("/healthz", headers={"X-Correlation-ID": given})
    made = response["X-Correlation-ID"]
    assert made != given and len(made) == 32
