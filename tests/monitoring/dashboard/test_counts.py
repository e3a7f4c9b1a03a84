"""Counts per queue and state kept by triggers (jobs.selectors.counts): exact through every kind of change."""
from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count, QuerySet

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.engine.attempts import Finish, attempts_finish, failed_run, job_claim
from jobs.engine.bulk import jobs_delete_where
from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.engine.transitions import job_cancel
from jobs.models import JobCountDelta, QueueJob
from jobs.plugins.counts import job_counts_fold, job_counts_rebuild
from jobs.selectors.counts import job_counts, jobs_matching_count, throughput
from jobs.selectors.filters import JobFilter

pytestmark = pytest.mark.django_db


def counted() -> dict[str, dict[str, int]]:
    """The truth, counted row by row."""
    truth: dict[str, dict[str, int]] = {}
    for row in QueueJob.objects.values("queue", "status").annotate(n=Count("id")).order_by():
        truth.setdefault(row["queue"], {})[row["status"]] = row["n"]
    return truth


def kept() -> dict[str, dict[str, int]]:
    return {q: {s: n for s, n in states.items() if n} for q, states in job_counts().items()
            if any(states.values())}


def test_counts_follow_inserts_transitions_and_deletes() -> None:
    jobs = job_enqueue_many([{"type": "demo.noop"} for _ in range(5)])
    job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "s", "body": "b"})
    assert kept() == counted() == {"default": {"pending": 5}, "email": {"pending": 1}}

    claim = job_claim(jobs[0].id, worker="w", pid=1, lease=30)
    attempts_finish([Finish(claim, AttemptOutcome.COMPLETED, JobStatus.COMPLETED, 0.1)])
    claim = job_claim(jobs[1].id, worker="w", pid=1, lease=30)
    attempts_finish([failed_run(claim, AttemptOutcome.ERROR, ("E", "boom", ""), 0.1, retryable=False)])
    job_cancel(job_id=jobs[2].id)
    QueueJob.objects.filter(pk=jobs[3].id).update(progress_percent=50)  # not a state change: no delta
    assert kept() == counted() == {"default": {"pending": 2, "completed": 1, "failed": 1, "cancelled": 1},
                                   "email": {"pending": 1}}

    assert jobs_delete_where(JobFilter(queue="default")) == 3  # finished ones only
    assert kept() == counted() == {"default": {"pending": 2}, "email": {"pending": 1}}


def test_fold_moves_deltas_into_totals_and_throughput() -> None:
    jobs = job_enqueue_many([{"type": "demo.noop"} for _ in range(3)])
    for job in jobs[:2]:
        claim = job_claim(job.id, worker="w", pid=1, lease=30)
        attempts_finish([Finish(claim, AttemptOutcome.COMPLETED, JobStatus.COMPLETED, 0.1)])
    before = kept()
    assert throughput()["default"][-1].completed == 2  # unfolded deltas count already
    assert job_counts_fold() > 0
    assert not JobCountDelta.objects.exists()
    assert kept() == before == counted()
    assert throughput()["default"][-1].completed == 2
    assert job_counts_fold() == 0


def test_a_failed_attempt_that_is_retried_counts_as_retried_not_as_a_failed_job() -> None:
    """Issue 12 item 6: three failed attempts of one job are 2 retried and 1 failed, folded or not, and a
    rebuild from the rows (the attempts) says the same."""
    job = job_enqueue(type="demo.noop").job
    error = ("RuntimeError", "boom", "")
    for number, status in enumerate([JobStatus.RETRYING, JobStatus.RETRYING, JobStatus.FAILED], start=1):
        claim = job_claim(job.id, worker="w", pid=1, lease=30)
        assert claim is not None and claim.attempt == number
        attempts_finish([Finish(claim, AttemptOutcome.ERROR, status, 0.1, error=error)])
        if status == JobStatus.RETRYING:
            QueueJob.objects.filter(pk=job.pk).update(status=JobStatus.PENDING)  # the promoter's move
    def last_minute() -> tuple[int, int, int]:
        minute = throughput()["default"][-1]
        return minute.completed, minute.retried, minute.failed

    assert last_minute() == (0, 2, 1)
    job_counts_fold()
    assert last_minute() == (0, 2, 1)
    job_counts_rebuild(throughput_from_rows=True)
    assert last_minute() == (0, 2, 1)


def test_truncate_and_rebuild() -> None:
    job_enqueue_many([{"type": "demo.noop"} for _ in range(3)])
    job_counts_fold()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending deferred FK checks
        cursor.execute("TRUNCATE jobs_queuejob, jobs_jobattempt CASCADE")
    assert kept() == {}
    job_enqueue_many([{"type": "demo.noop"} for _ in range(2)])
    with connection.cursor() as cursor:  # counts gone wrong (a manual edit): rebuild repairs them
        cursor.execute("UPDATE jobs_jobcountdelta SET n = n + 40")
    assert kept() != counted()
    job_counts_rebuild()
    assert kept() == counted() == {"default": {"pending": 2}}


def test_matching_count_is_exact_from_counts_or_by_counting_and_estimated_past_its_budget() -> None:
    job_enqueue_many([{"type": "demo.noop"} for _ in range(4)] + [{"type": "demo.sleep"}])
    assert jobs_matching_count(JobFilter(queue="default", statuses=("pending",))) == (5, True)  # kept counts
    assert jobs_matching_count(JobFilter(queue="default", type="demo.sleep")) == (1, True)  # counted
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_queuejob")

    def slow_count(self: QuerySet) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1)")
        raise AssertionError("statement_timeout did not stop the count")

    with mock.patch.object(QuerySet, "count", slow_count):
        estimate = jobs_matching_count(JobFilter(queue="default", type="demo.noop"), budget_ms=20)
    assert not estimate.exact and estimate.n >= 1
    assert jobs_matching_count(JobFilter(queue="default").only({"completed"})) == (0, True)
