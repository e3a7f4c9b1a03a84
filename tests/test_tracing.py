"""OpenTelemetry, opt-in: with the console exporter, a request's enqueue and the job's attempts form one trace."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from jobs.api.tokens import api_token_create
from jobs.core import tracing
from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from tests.conftest import Processes, make_user, wait_for

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def console_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before `server` and the workers start: they take the environment as it is then."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")


def spans(*paths: str) -> list[dict]:
    """The console exporter's spans (each a JSON object over several lines) among a log's other lines."""
    found, decoder = [], json.JSONDecoder()
    for path in paths:
        text = Path(path).read_text()
        at = text.find("{\n")
        while at != -1:
            span, end = decoder.raw_decode(text, at)
            if isinstance(span, dict) and "context" in span:
                found.append(span)
            at = text.find("{\n", end)
    return found


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_and_its_attempts_share_the_requests_trace(console_traces: None, server: str,
                                                              processes: Processes) -> None:
    _, key = api_token_create(user=make_user("operator", perms=("view_queuejob", "add_queuejob")), name="ci")
    request = urllib.request.Request(f"{server}/api/jobs", data=json.dumps(
        {"type": "demo.sleep", "payload": {"seconds": 0.1, "steps": 2}}).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"})
    with urllib.request.urlopen(request, timeout=10) as response:
        job_id = json.loads(response.read())["id"]
    row = QueueJob.objects.get(pk=job_id)
    assert row.traceparent.startswith(f"00-{CALLER_TRACE}-")

    worker = processes.worker("default")
    wait_for(lambda: QueueJob.objects.get(pk=job_id).status == "completed", message="the job")
    log = str(Path(worker.log_path).parent / "uvicorn.log")
    wait_for(lambda: any(s["name"] == "job.run demo.sleep" for s in spans(worker.log_path)), message="the run span")
    by_name = {span["name"]: span for span in spans(log, worker.log_path)}
    server_span, enqueue, run = by_name["POST /api/jobs"], by_name["job.enqueue"], by_name["job.run demo.sleep"]
    for span in (server_span, enqueue, run, by_name["sleep step 1"], by_name["sleep step 2"]):
        assert span["context"]["trace_id"] == f"0x{CALLER_TRACE}", span["name"]  # one trace, the caller's
    assert server_span["parent_id"] == "0x00f067aa0ba902b7"
    assert enqueue["parent_id"] == server_span["context"]["span_id"]
    assert run["parent_id"] == enqueue["context"]["span_id"]  # the attempt hangs under the enqueue
    assert row.traceparent.split("-")[2] == enqueue["context"]["span_id"][2:]
    assert by_name["sleep step 1"]["parent_id"] == run["context"]["span_id"]  # the handler's spans nest inside
    assert run["attributes"]["job.id"] == job_id and run["attributes"]["job.outcome"] == "completed"


@pytest.mark.django_db
def test_tracing_is_off_unless_asked() -> None:
    assert not tracing.enabled()
    assert job_enqueue(type="demo.noop").job.traceparent == ""
    assert tracing.wanted({}) == "" and tracing.wanted({"OTEL_TRACES_EXPORTER": "none",
                                                        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ""
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console"}) == "console"
