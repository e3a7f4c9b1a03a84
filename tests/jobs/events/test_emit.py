"""jobs.events.emit and its sinks: the public shape, isolation of failing sinks, the Redis stream."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.events import emit as events
from jobs.events import stream
from jobs.events.emit import JobEvent, emit, job_event
from jobs.execution.runner import run_job
from jobs.models import QueueJob
from tests.conftest import make_user, wait_for


class Recorder:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def __call__(self, batch: list[JobEvent]) -> None:
        self.events.extend(batch)

    def names(self, job_id: object) -> list[str]:
        return [e.name for e in self.events if e.job_id == str(job_id)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    events.flush()  # nothing of an earlier test's
    sink = Recorder()
    events.register_sink(sink)
    yield sink
    events.unregister_sink(sink)


@pytest.fixture
def failing_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(batch: list[JobEvent]) -> None:
        raise RuntimeError("sink is down")

    configured = events.sinks
    monkeypatch.setattr(events, "sinks", lambda: [explode, *configured()])  # first: the others must still run


def stream_messages(job_id: object) -> list[dict[str, Any]]:
    events.flush()
    _, entries = stream.read_after("0-0", block=0.001, count=10_000)
    return [entry.message() for entry in entries if entry.job_id == str(job_id)]


@pytest.mark.django_db(transaction=True)
def test_event_carries_the_same_public_fields_as_the_api(recorder: Recorder) -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1}, correlation_id="shape-1").job
    events.flush()
    (enqueued,) = [e for e in recorder.events if e.job_id == str(job.id)]
    assert enqueued.name == "job:enqueued" and enqueued.at

    client = Client()
    client.force_login(make_user("watcher"))
    api = client.get(f"/api/jobs/{job.id}").json()
    assert enqueued.job == {**api, "truncated": []}  # nothing cut to a preview (jobs.core.shape.event_shape)
    message = stream_messages(job.id)[0]
    assert message == {"type": "job.event", "event": "job:enqueued", "job": {**api, "truncated": []},
                       "seq": message["seq"], "at": message["at"]}
    assert message["seq"] > 0


@pytest.mark.django_db(transaction=True)
def test_a_run_costs_two_statements_and_its_active_event_the_whole_shape(recorder: Recorder) -> None:
    """The claim returns the whole row: the job:active event needs no query of its own (the hot path)."""
    job = job_enqueue(type="demo.noop", payload={}).job
    with CaptureQueriesContext(connection) as queries:
        run_job(str(job.id))  # the worker's code path
    assert len(queries) == 2, [q["sql"][:60] for q in queries]  # claim, finish
    events.flush()
    active = [e for e in recorder.events if e.job_id == str(job.id) and e.name == "job:active"][-1]
    client = Client()
    client.force_login(make_user("watcher"))
    api = client.get(f"/api/jobs/{job.id}").json()
    assert active.job.keys() == api.keys() | {"truncated"}
    for key in ("id", "type", "payload", "created_at", "started_at", "max_attempts", "correlation_id"):
        assert active.job[key] == api[key], key
    assert active.job["status"] == "active" and active.job["attempts"] == 1


@pytest.mark.django_db(transaction=True)
def test_completed_event_carries_the_row_as_the_api_shows_it(recorder: Recorder) -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.01, "steps": 2}).job
    run_job(str(job.id))  # the worker's code path: its completed event is built without a query
    events.flush()
    completed = [e for e in recorder.events if e.job_id == str(job.id) and e.name == "job:completed"][-1]
    client = Client()
    client.force_login(make_user("watcher"))
    api = client.get(f"/api/jobs/{job.id}").json()
    for key in ("status", "progress", "result", "error", "finished_at", "attempts"):
        assert completed.job[key] == api[key], key


@pytest.mark.django_db(transaction=True)
def test_a_failing_sink_is_logged_and_never_changes_the_jobs_outcome(
    failing_sink: None, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.05, "steps": 3}).job
    run_job(str(job.id))  # the worker's code path, in this process so the failing sink is in it
    events.flush()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.result == {"slept": 0.05}
    names = recorder.names(job.id)
    assert names[:2] == ["job:enqueued", "job:active"] and names[-1] == "job:completed"
    assert names.count("job:progress") == 4
    assert "event=sink_failed" in caplog.text
    assert [m["event"] for m in stream_messages(job.id)][-1] == "job:completed"  # later sinks still ran


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_still_emits_retrying_and_failed(recorder: Recorder) -> None:
    job = job_enqueue(type="demo.fail", payload={"message": "nope"}, max_attempts=2).job
    run_job(str(job.id))
    events.flush()
    retrying = recorder.events[-1]
    assert retrying.name == "job:retrying" and retrying.job["error"] == "RuntimeError: nope"
    assert retrying.job["run_at"] and retrying.job["attempts"] == 1
    QueueJob.objects.filter(pk=job.pk).update(status=JobStatus.PENDING)
    run_job(str(job.id))
    events.flush()
    failed = recorder.events[-1]
    assert failed.name == "job:failed" and failed.job["status"] == "failed" and failed.job["finished_at"]


def build(name: str, job: QueueJob, **changes: Any) -> JobEvent:
    return job_event(name, job, **changes)


def emit_one(name: str, job: QueueJob, **changes: Any) -> None:
    emit([build(name, job, **changes)])


@pytest.mark.django_db
def test_events_are_built_from_the_row_without_a_query(django_assert_num_queries: Any) -> None:
    job = job_enqueue(type="demo.sleep", payload={}).job
    with django_assert_num_queries(0):
        build("job:active", job, status="active", attempts=1)
        for percent in (10, 20, 30):
            last = build("job:progress", job, status="active", attempts=1,
                         progress={"percent": percent, "stage": "s", "message": ""})
    assert last.job["progress"]["percent"] == 30 and last.job["attempts"] == 1 and last.job["payload"] == job.payload


def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        JobEvent("job:exploded", "x", {})


@pytest.mark.django_db
def test_state_changes_and_ticks_wait_for_company_and_go_out_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    calls: list[list[str]] = []
    real_publish = stream.publish
    monkeypatch.setattr(stream, "publish", lambda batch: calls.append([e.name for e in batch]) or real_publish(batch))
    sink = stream.StreamSink(delay=60)  # its helper thread would send after a minute
    sink([build("job:active", job, status="active", attempts=1)])
    sink([build("job:completed", job, status="completed", attempts=1)])
    assert calls == []  # the emitting thread did not wait for Redis
    sink.flush()
    assert calls == [["job:active", "job:completed"]]  # one round trip for a short job

    sink([build("job:active", job, status="active", attempts=2)])
    sink([build("job:progress", job, status="active", attempts=2,
                     progress={"percent": 50, "stage": "half", "message": ""})])
    assert calls[1:] == []  # a tick waits for company too (fifty slots ticking must not queue for Redis)
    sink.flush()
    assert calls[1:] == [["job:active", "job:progress"]]  # one round trip, in order
    seqs = [m["seq"] for m in stream_messages(job.id)]
    assert seqs == list(range(seqs[0], seqs[0] + 4))


@pytest.mark.django_db
def test_sequence_numbers_grow_per_job_even_across_a_redis_flush() -> None:
    from jobs.core.transport import redis_connection

    job = job_enqueue(type="demo.noop", payload={}).job
    emit_one("job:active", job, status="active")
    emit_one("job:completed", job, status="completed")
    first = [m["seq"] for m in stream_messages(job.id)]
    assert len(first) == 2 and first[1] == first[0] + 1
    assert stream.current_seq(job.id) == first[1]
    assert 0 < redis_connection().ttl(stream.SEQ_KEY + str(job.id)) <= stream.SEQ_TTL
    redis_connection().flushdb()
    emit_one("job:completed", job, status="completed")
    assert stream_messages(job.id)[0]["seq"] > first[1]


@pytest.mark.django_db
def test_fast_progress_ticks_are_thinned_but_stages_and_the_latest_tick_always_go_out() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    emit_one("job:active", job, status="active")
    started = time.monotonic()
    for percent in range(1, 61):  # 60 ticks in one stage, as fast as possible
        emit_one("job:progress", job, status="active", progress={"percent": percent, "stage": "a", "message": ""})
    emit_one("job:progress", job, status="active", progress={"percent": 61, "stage": "b", "message": ""})
    for percent in range(62, 80):
        emit_one("job:progress", job, status="active", progress={"percent": percent, "stage": "b", "message": ""})
    elapsed = time.monotonic() - started

    def ticks() -> list[tuple[int, str]]:
        return [(m["job"]["progress"]["percent"], m["job"]["progress"]["stage"])
                for m in stream_messages(job.id) if m["event"] == "job:progress"]

    wait_for(lambda: ticks() and ticks()[-1] == (79, "b"), timeout=2, message="the held-back last tick")
    sent = ticks()
    assert (1, "a") in sent and (61, "b") in sent  # first tick and every stage change at once
    assert len(sent) <= 4 + elapsed / stream.PROGRESS_INTERVAL  # about 20 per second at most
    seqs = [m["seq"] for m in stream_messages(job.id)]
    assert seqs == sorted(seqs)


@pytest.mark.django_db(transaction=True)
def test_bulk_enqueue_publishes_one_event_per_job_in_order(recorder: Recorder) -> None:
    jobs = job_enqueue_many([{"type": "demo.noop", "payload": {}}] * 50)
    events.flush()
    assert [e.job_id for e in recorder.events] == [str(job.id) for job in jobs]
    assert all(e.name == "job:enqueued" for e in recorder.events)
    assert all(len(stream_messages(job.id)) == 1 for job in jobs)


@pytest.mark.django_db
def test_stream_sink_drops_events_quickly_while_redis_is_away(caplog: pytest.LogCaptureFixture) -> None:
    from django.test import override_settings

    job = job_enqueue(type="demo.noop", payload={}).job
    batch = [build("job:failed", job, status="failed", attempts=n) for n in range(10)]
    sink = stream.StreamSink()
    events.flush()  # the event thread must not publish to the unroutable Redis below
    with override_settings(REDIS_URL="redis://10.255.255.1:6379/0"):  # unroutable: connects time out
        started = time.monotonic()
        for event in batch:
            assert sink([event]) == [event]
            sink.flush()  # dropped, not raised
        assert time.monotonic() - started < 3  # one connect timeout (1 s), not ten
    assert caplog.text.count("event=stream_unavailable") == 1


@pytest.mark.django_db(transaction=True)
def test_an_enqueued_job_is_numbered_before_any_worker_can_see_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 5: `enqueue_job --wait` showed "15% active", then "0% pending": the enqueue's event was
    still waiting for the stream sink's helper when a worker had claimed the job and numbered its own. The
    events of a hand-over are in the stream, numbered, before the job reaches its RQ list."""
    from jobs.engine import publish

    at_dispatch: list[list[str]] = []
    real_dispatch = publish.dispatch

    def dispatch(items: list[Any]) -> bool:
        at_dispatch.append([m["event"] for item in items for m in stream_messages(item.job_id)])
        return real_dispatch(items)

    monkeypatch.setattr(publish, "dispatch", dispatch)
    job = job_enqueue(type="demo.noop", payload={}).job
    jobs = job_enqueue_many([{"type": "demo.noop"}, {"type": "demo.noop"}])
    assert at_dispatch == [["job:enqueued"], ["job:enqueued", "job:enqueued"]]
    assert stream.current_seq(job.id) > 0 and all(stream.current_seq(j.id) > 0 for j in jobs)
