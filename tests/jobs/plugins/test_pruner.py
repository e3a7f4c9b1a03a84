"""Retention (jobs.plugins.pruner) over a backlog of many batches (issue 11, finding 18).

The pruner must read each finished job about once however large the backlog
(keyset batches), and delete exactly what the policies say, ties on the
finish time included.
"""
from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from jobs.core.config import get_config
from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from jobs.plugins.pruner import prune_jobs

pytestmark = pytest.mark.django_db

BACKLOG = 3000


@pytest.fixture
def policies(settings):  # noqa: ANN001, ANN201 (pytest-django's settings fixture)
    """default keeps its 100 newest completed jobs; failed (and cancelled) ones for an hour."""
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "default": {
        **settings.JOB_QUEUES["default"], "keep_completed": (100, None), "keep_failed": (None, 3600)}}
    get_config.cache_clear()
    yield
    get_config.cache_clear()


def backlog(status: str, n: int, *, newest_minutes_ago: int = 0, queue: str = "default") -> list[QueueJob]:
    """``n`` finished jobs, three to a finish time (ties cross batch boundaries), one minute apart."""
    now = timezone.now()
    jobs = [QueueJob(type="demo.noop", queue=queue, status=status, timeout=1,
                     finished_at=now - timedelta(minutes=newest_minutes_ago + index // 3)) for index in range(n)]
    return QueueJob.objects.bulk_create(jobs)


def rows_read() -> int:
    """Rows of the job table this transaction has read so far (sequential and index scans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                       " FROM pg_stat_xact_user_tables WHERE relname = 'jobs_queuejob'")
        return cursor.fetchone()[0]


def newest(jobs: list[QueueJob], n: int) -> set:
    return {job.id for job in sorted(jobs, key=lambda j: (j.finished_at, j.id), reverse=True)[:n]}


def test_a_large_backlog_is_pruned_exactly_reading_each_job_a_few_times(policies: None) -> None:
    completed = backlog("completed", BACKLOG)
    recent_failed = backlog("failed", 30)  # within the hour
    old_failed = backlog("failed", 60, newest_minutes_ago=61) + backlog("cancelled", 30, newest_minutes_ago=61)
    other_queue = backlog("completed", 200, queue="email")  # email keeps 500: none of these goes
    live = QueueJob.objects.create(type="demo.noop", queue="default", status="pending", timeout=1)
    with connection.cursor() as cursor:  # a small table: tell the planner to behave as with a big one
        cursor.execute("ANALYZE jobs_queuejob")
        cursor.execute("SET LOCAL enable_seqscan = off")

    before, out = rows_read(), io.StringIO()
    call_command("purge_jobs", "--dry-run", stdout=out)
    preview_reads = rows_read() - before
    assert "default        completed  would delete 2900" in out.getvalue()
    assert "default        failed     would delete 90" in out.getvalue()
    before = rows_read()
    deleted = {(c.queue, c.policy): c.count for c in prune_jobs(batch_size=50)}  # 58 batches for the completed
    prune_reads = rows_read() - before

    assert deleted[("default", "completed")] == BACKLOG - 100
    assert deleted[("default", "failed")] == len(old_failed)
    assert deleted[("email", "completed")] == 0
    remaining = set(QueueJob.objects.values_list("id", flat=True))
    assert remaining == newest(completed, 100) | {j.id for j in recent_failed + other_queue} | {live.id}
    # Keyset batches read each candidate three times (its batch; the delete's lock, the delete itself);
    # ranking the whole backlog again for every batch read it once per batch: ~11 times as many here,
    # growing with the square of the backlog.
    assert prune_reads < 4 * BACKLOG, prune_reads
    assert preview_reads < 2 * BACKLOG, preview_reads


def test_a_policy_keeping_none_deletes_every_finished_job_of_its_states(settings) -> None:  # noqa: ANN001
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "default": {
        **settings.JOB_QUEUES["default"], "keep_completed": (0, None), "keep_failed": (None, None)}}
    get_config.cache_clear()
    try:
        backlog("completed", 7)
        failed = backlog("failed", 2)
        assert {(c.queue, c.policy): c.count for c in prune_jobs(batch_size=3)}[("default", "completed")] == 7
        assert set(QueueJob.objects.values_list("id", flat=True)) == {j.id for j in failed}
    finally:
        get_config.cache_clear()


@pytest.mark.django_db
def test_a_type_with_its_own_retention_is_counted_apart_from_its_queue(settings: Any) -> None:
    """A Django task's OPTIONS may keep its jobs longer (or shorter) than its queue does."""
    from dataclasses import replace as with_

    from jobs.core.config import Retention
    from jobs.core.registry import _registry

    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "default": {**settings.JOB_QUEUES["default"],
                                                              "keep_completed": (2, None)}}
    noop, sleep = _registry["demo.noop"], _registry["demo.sleep"]
    _registry["demo.sleep"] = with_(sleep, keep_completed=Retention(5, None))
    try:
        finished = timezone.now()
        for n in range(8):
            for type_name in ("demo.noop", "demo.sleep"):
                job = job_enqueue(type=type_name, payload={}).job
                QueueJob.objects.filter(pk=job.pk).update(status="completed",
                                                          finished_at=finished - timedelta(minutes=n))
        counts = {(c.queue, c.policy): c.count for c in prune_jobs()}
    finally:
        _registry["demo.sleep"] = sleep
    assert noop is _registry["demo.noop"]
    assert counts[("default", "completed")] == 6 and counts[("type demo.sleep", "completed")] == 3
    assert QueueJob.objects.filter(type="demo.noop").count() == 2
    assert QueueJob.objects.filter(type="demo.sleep").count() == 5
