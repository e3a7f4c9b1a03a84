"""Bulk actions over a filter (jobs.engine.bulk): set-based, batched, guarded, dispatched in bulk on commit."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connections, transaction
from django.utils import timezone

from jobs.core.transport import get_rq_queue
from jobs.engine import publish
from jobs.engine.bulk import jobs_cancel_where, jobs_delete_where, jobs_promote_where, jobs_requeue_where
from jobs.engine.enqueue import job_enqueue_many
from jobs.engine.transitions import job_requeue, jobs_requeue
from jobs.events import emit as events
from jobs.models import JobAttempt, QueueJob
from jobs.selectors.filters import JobFilter


def make_jobs(n: int, status: str = "failed", type: str = "demo.noop", **fields: Any) -> list[QueueJob]:
    jobs = job_enqueue_many([{"type": type} for _ in range(n)])
    now = timezone.now()
    defaults = {"attempts": 3, "finished_at": now, "error": "RuntimeError: boom 7", "dispatched_at": None,
                "rq_id": ""} if status in ("failed", "cancelled", "completed") else {}
    QueueJob.objects.filter(pk__in=[j.id for j in jobs]).update(status=status, **{**defaults, **fields})
    return list(QueueJob.objects.filter(pk__in=[j.id for j in jobs]))


@pytest.fixture
def recorded() -> Iterator[list[events.JobEvent]]:
    seen: list[events.JobEvent] = []
    events.flush()
    sink = seen.extend
    events.register_sink(sink)
    yield seen
    events.flush()
    events.unregister_sink(sink)


@pytest.mark.django_db
def test_requeue_where_moves_only_matching_failed_jobs_back_and_dispatches_them_in_bulk_on_commit(
        django_capture_on_commit_callbacks: Any, recorded: list[events.JobEvent]) -> None:
    failed = make_jobs(5)
    other_type = make_jobs(2, type="demo.sleep")
    done = make_jobs(2, status="completed")
    get_rq_queue("default").empty()
    with mock.patch.object(publish, "dispatch", wraps=publish.dispatch) as spy, \
            django_capture_on_commit_callbacks(execute=True):
        assert jobs_requeue_where(JobFilter(queue="default", type="demo.noop"), batch_size=2) == 5
    assert [len(call.args[0]) for call in spy.call_args_list] == [2, 2, 1]  # one Redis round trip per batch
    assert get_rq_queue("default").count == 5
    for job in QueueJob.objects.filter(pk__in=[j.id for j in failed]):
        assert (job.status, job.finished_at, job.max_attempts) == ("pending", None, 6)
        assert job.dispatched_at is not None and job.rq_id
    assert {j.status for j in QueueJob.objects.filter(pk__in=[j.id for j in other_type + done])} == {
        "failed", "completed"}
    events.flush()
    assert sorted(e.job_id for e in recorded if e.name == "job:enqueued") == sorted(str(j.id) for j in failed)


@pytest.mark.django_db
def test_bulk_requeue_leaves_a_job_exactly_as_job_requeue_does() -> None:
    one, two = make_jobs(2, interruptions=1)
    job_requeue(job_id=one.id)
    jobs_requeue([two.id])
    fields = ["status", "max_attempts", "finished_at", "run_at", "cancel_requested", "attempts", "error"]
    a, b = (QueueJob.objects.values(*fields).get(pk=pk) for pk in (one.id, two.id))
    assert a == b


@pytest.mark.django_db
def test_a_job_that_changed_state_meanwhile_is_not_touched() -> None:
    stale = make_jobs(3)
    # Between the page listing them and the action: one was retried already and is
    # running, another was deleted. The guarded UPDATE changes only the third.
    QueueJob.objects.filter(pk=stale[0].id).update(status="active")
    QueueJob.objects.filter(pk=stale[1].id).delete()
    assert len(jobs_requeue([j.id for j in stale])) == 1
    assert QueueJob.objects.get(pk=stale[0].id).status == "active"
    assert QueueJob.objects.get(pk=stale[2].id).status == "pending"
    # By filter, the same: an explicit selection of jobs in the wrong state changes nothing.
    assert jobs_requeue_where(JobFilter(ids=(stale[0].id,))) == 0
    assert jobs_delete_where(JobFilter(ids=(stale[0].id, stale[2].id))) == 0  # neither has finished


@pytest.mark.django_db(transaction=True)
def test_a_job_locked_by_a_worker_is_skipped_not_waited_for() -> None:
    jobs = make_jobs(4)
    locked, release = threading.Event(), threading.Event()

    def worker_transaction() -> None:  # e.g. the lifeline rescuing it: holds the row lock a while
        try:
            with transaction.atomic():
                QueueJob.objects.select_for_update().get(pk=jobs[0].id)
                QueueJob.objects.filter(pk=jobs[0].id).update(status="pending")
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker_transaction)
    thread.start()
    assert locked.wait(10)
    try:
        assert jobs_requeue_where(JobFilter(queue="default", statuses=("failed",))) == 3
    finally:
        release.set()
        thread.join()
    assert QueueJob.objects.filter(status="pending").count() == 4
    job = QueueJob.objects.get(pk=jobs[0].id)
    assert job.max_attempts == 3  # changed by the other transaction only, not requeued on top


@pytest.mark.django_db
def test_cancel_where_cancels_waiting_jobs_and_asks_running_ones_to_stop(
        django_capture_on_commit_callbacks: Any, recorded: list[events.JobEvent]) -> None:
    waiting = make_jobs(2, status="pending") + make_jobs(1, status="scheduled",
                                                          run_at=timezone.now() + timedelta(hours=1))
    running = make_jobs(2, status="active")
    done = make_jobs(1, status="completed")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_cancel_where(JobFilter(queue="default"), batch_size=2) == 5
    assert set(QueueJob.objects.filter(pk__in=[j.id for j in waiting]).values_list("status", flat=True)) == {
        "cancelled"}
    assert list(QueueJob.objects.filter(pk__in=[j.id for j in running]).values_list(
        "status", "cancel_requested").order_by().distinct()) == [("active", True)]
    assert QueueJob.objects.get(pk=done[0].id).status == "completed"
    assert jobs_cancel_where(JobFilter(queue="default")) == 0  # nothing left to cancel or ask
    events.flush()
    assert len([e for e in recorded if e.name == "job:cancelled"]) == 3


@pytest.mark.django_db
def test_promote_where_makes_waiting_jobs_due_now(django_capture_on_commit_callbacks: Any) -> None:
    later = timezone.now() + timedelta(hours=2)
    waiting = make_jobs(2, status="scheduled", run_at=later) + make_jobs(1, status="retrying", run_at=later)
    get_rq_queue("default").empty()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_promote_where(JobFilter(queue="default", statuses=("scheduled", "retrying", "failed"))) == 3
    assert list(QueueJob.objects.filter(pk__in=[j.id for j in waiting]).values_list("status", "run_at").order_by().distinct()) \
        == [("pending", None)]
    assert get_rq_queue("default").count == 3


@pytest.mark.django_db
def test_delete_where_removes_finished_jobs_with_their_attempts_and_never_live_ones() -> None:
    three_days_ago = timezone.now() - timedelta(days=3)
    old = make_jobs(3, status="completed", finished_at=three_days_ago, created_at=three_days_ago)
    recent = make_jobs(1, status="completed")
    live = make_jobs(1, status="pending")
    for job in old:
        JobAttempt.objects.create(job=job, number=1, started_at=timezone.now(), outcome="completed")
    cutoff = timezone.now() - timedelta(days=1)
    assert jobs_delete_where(JobFilter(queue="default", statuses=("completed",), finished_before=cutoff)) == 3
    assert not QueueJob.objects.filter(pk__in=[j.id for j in old]).exists()
    assert not JobAttempt.objects.exists()
    assert QueueJob.objects.filter(pk__in=[recent[0].id, live[0].id]).count() == 2
    assert jobs_delete_where(JobFilter(queue="default")) == 1  # the recent completed one; pending stays
