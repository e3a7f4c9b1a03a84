"""Log lines of a running job on the event stream: its socket gets them, the dashboard's feed does not."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from jobs.core.log_lines import LogLine
from jobs.events import stream
from jobs.management.cli import follow_job
from tests.monitoring.live.test_consumers import connect, emit_for, enqueue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_relay")]


def lines(job: Any, *numbers: int, attempt_id: int = 7) -> list[LogLine]:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [LogLine(attempt_id, str(job.id), 1, n, at, "INFO", f"line {n}") for n in numbers]


async def test_the_job_socket_gets_log_lines_in_order_and_the_feed_does_not(watcher: Any) -> None:
    job = await enqueue()
    ws = await connect(f"/ws/jobs/{job.id}/", watcher)
    feed = await connect("/ws/queues/", watcher)
    snapshot = await ws.receive_json_from(timeout=5)
    assert (await feed.receive_json_from(timeout=5))["type"] == "queues.snapshot"

    await sync_to_async(stream.publish_log_lines)(lines(job, 1, 2))
    await sync_to_async(stream.publish_log_lines)(lines(job, 3))
    await emit_for(job, "job:active", status="active", attempts=1)
    first, second, event = [await ws.receive_json_from(timeout=5) for _ in range(3)]
    assert first == {"type": "job.log", "seq": first["seq"], "job_id": str(job.id), "attempt": 1, "lines": [
        {"number": 1, "at": "2026-01-02T03:04:05Z", "level": "INFO", "message": "line 1"},
        {"number": 2, "at": "2026-01-02T03:04:05Z", "level": "INFO", "message": "line 2"}]}
    assert [line["number"] for line in second["lines"]] == [3]
    assert snapshot["seq"] < first["seq"] < second["seq"] < event["seq"]  # numbered in the job's sequence
    assert event["type"] == "job.event" and event["event"] == "job:active"

    received = [await feed.receive_json_from(timeout=5) for _ in range(2)]
    assert {m["type"] for m in received} == {"job.event", "queues.counts"}
    assert all(m.get("event") == "job:active" for m in received if m["type"] == "job.event")
    assert await feed.receive_nothing(timeout=0.3)
    await ws.disconnect()
    await feed.disconnect()


def test_enqueue_wait_follows_state_changes_past_log_lines(watcher: Any) -> None:
    from jobs.engine.enqueue import job_enqueue
    from jobs.events.emit import emit, flush, job_event

    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.1, "steps": 2}).job
    flush()
    followed = follow_job(job.id, timeout=10)
    assert next(followed)["status"] == "pending"
    stream.publish_log_lines(lines(job, 1))
    emit([job_event("job:completed", job, status="completed", attempts=1)])
    flush()
    assert next(followed)["status"] == "completed"
