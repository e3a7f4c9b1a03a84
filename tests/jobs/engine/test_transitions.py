"""jobs.engine.transitions: one guarded, set-based writer per state change; events carry the whole row."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.core.errors import InvalidTransition
from jobs.core.shape import PUBLIC_FIELDS
from jobs.engine.enqueue import job_enqueue_many
from jobs.engine.transitions import (
    job_cancel,
    job_requeue,
    jobs_cancel,
    jobs_handover,
    jobs_promote,
    jobs_request_cancel,
    jobs_requeue,
)
from jobs.events import emit as events
from jobs.models import QueueJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded() -> Iterator[list[events.JobEvent]]:
    seen: list[events.JobEvent] = []
    events.register_sink(seen.extend)
    yield seen
    events.unregister_sink(seen.extend)


def jobs_in(*states: str) -> dict[str, QueueJob]:
    """One demo.sleep job in each of ``states``."""
    jobs = job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": 1}} for _ in states])
    for job, state in zip(jobs, states):
        QueueJob.objects.filter(pk=job.pk).update(status=state)
    return {state: QueueJob.objects.get(pk=job.pk) for job, state in zip(jobs, states)}


def test_cancel_changes_only_waiting_jobs_in_one_statement_and_its_events_need_no_read(
        django_capture_on_commit_callbacks: Any, recorded: list[events.JobEvent]) -> None:
    jobs = jobs_in("pending", "scheduled", "retrying", "active", "completed", "failed")
    ids = [job.id for job in jobs.values()]
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        cancelled = jobs_cancel(ids)
    assert len(queries) == 1  # the guarded UPDATE … RETURNING; events are built from what it returned
    assert {job.id for job in cancelled} == {jobs[s].id for s in ("pending", "scheduled", "retrying")}
    states = dict(QueueJob.objects.filter(pk__in=ids).values_list("id", "status"))
    assert [states[jobs[s].id] for s in jobs] == ["cancelled"] * 3 + ["active", "completed", "failed"]
    assert sorted(e.job_id for e in recorded) == sorted(str(job.id) for job in cancelled)
    for event in recorded:
        assert event.name == "job:cancelled" and tuple(event.job) == (*PUBLIC_FIELDS, "truncated")
        assert event.job["status"] == "cancelled" and event.job["payload"] == {"seconds": 1.0, "steps": 5}


def test_a_running_job_is_asked_to_stop_once_and_a_finished_one_refuses(recorded: list[events.JobEvent]) -> None:
    jobs = jobs_in("active", "completed")
    assert [job.cancel_requested for job in jobs_request_cancel([jobs["active"].id])] == [True]
    assert jobs_request_cancel([jobs["active"].id]) == []  # asked already: nothing changes
    assert job_cancel(job_id=jobs["active"].id).status == "active"  # the API still answers with the job
    with pytest.raises(InvalidTransition, match="only waiting or active"):
        job_cancel(job_id=jobs["completed"].id)


def test_requeue_gives_failed_and_cancelled_jobs_fresh_attempts_under_a_new_hand_over(
        django_capture_on_commit_callbacks: Any) -> None:
    jobs = jobs_in("failed", "cancelled", "completed")
    QueueJob.objects.filter(pk=jobs["failed"].pk).update(attempts=3, max_attempts=3)
    with django_capture_on_commit_callbacks(execute=True):
        requeued = jobs_requeue([job.id for job in jobs.values()])
    assert {job.id for job in requeued} == {jobs["failed"].id, jobs["cancelled"].id}
    failed = QueueJob.objects.get(pk=jobs["failed"].pk)
    assert (failed.status, failed.max_attempts, failed.finished_at) == ("pending", 6, None)
    assert failed.rq_id and failed.rq_id != jobs["failed"].rq_id
    with pytest.raises(InvalidTransition, match="only failed or cancelled"):
        job_requeue(job_id=jobs["completed"].id)


def test_promote_moves_only_waiting_jobs() -> None:
    jobs = jobs_in("scheduled", "retrying", "pending", "active")
    promoted = jobs_promote([job.id for job in jobs.values()], announce=False)
    assert {job.id for job in promoted} == {jobs["scheduled"].id, jobs["retrying"].id}
    assert all(job.status == "pending" and job.run_at is None and job.rq_id for job in promoted)  # run early


def test_a_hand_over_is_guarded_by_the_rq_id_it_replaces() -> None:
    jobs = jobs_in("pending")
    job = jobs["pending"]
    assert jobs_handover([(job.id, "not-its-rq-id")]) == []  # a newer hand-over happened meanwhile
    (handed,) = jobs_handover([(job.id, job.rq_id)])
    assert handed.rq_id != job.rq_id and handed.dispatched_at >= job.dispatched_at
    assert jobs_handover([(job.id, job.rq_id)]) == []  # the old id no longer matches: no second hand-over
