"""Keyset pages (jobs.selectors.paging): every row exactly once across pages while new jobs arrive."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.enqueue import job_enqueue_many
from jobs.models import QueueJob
from jobs.selectors.filters import JobFilter
from jobs.selectors.paging import InvalidCursor, decode, keyset_page

pytestmark = pytest.mark.django_db


def seed(n: int) -> set:
    jobs = job_enqueue_many([{"type": "demo.noop"} for _ in range(n)])
    # Many rows share a timestamp (as a bulk INSERT's do), so the id must break the ties.
    base = timezone.now() - timedelta(hours=1)
    for i, job in enumerate(jobs):
        QueueJob.objects.filter(pk=job.id).update(created_at=base + timedelta(seconds=i // 4),
                                                  finished_at=base + timedelta(seconds=(i * 7) % 13),
                                                  status="completed")
    return {job.id for job in jobs}


@pytest.mark.parametrize("sort", ["-created", "created", "-finished", "finished"])
def test_every_row_once_across_pages_while_new_jobs_arrive(sort: str) -> None:
    original = seed(37)
    jobs = JobFilter(queue="default", statuses=("completed",)).queryset()
    seen: list = []
    cursor = None
    pages = 0
    while True:
        page = keyset_page(jobs, sort=sort, limit=5, after=cursor)
        seen += [row.id for row in page.rows]
        pages += 1
        # Meanwhile more jobs finish: newer than anything listed so far.
        for job in job_enqueue_many([{"type": "demo.noop"} for _ in range(2)]):
            QueueJob.objects.filter(pk=job.id).update(status="completed", finished_at=timezone.now())
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert original <= set(seen), "a row was skipped"
    if sort.startswith("-"):
        assert set(seen) == original  # newest first: jobs that arrived later are not on the old pages
    assert pages >= len(seen) / 5


def test_previous_pages_mirror_next_pages() -> None:
    seed(23)
    jobs = JobFilter(queue="default").queryset()
    forward = []
    page = keyset_page(jobs, limit=4)
    while True:
        forward.append([r.id for r in page.rows])
        if page.next_cursor is None:
            break
        page = keyset_page(jobs, limit=4, after=page.next_cursor)
    backward = []
    while page.prev_cursor is not None:
        page = keyset_page(jobs, limit=4, before=page.prev_cursor)
        backward.append([r.id for r in page.rows])
    assert backward == forward[-2::-1]


def test_a_cursor_is_tied_to_its_sort_and_bad_ones_are_refused() -> None:
    seed(3)
    page = keyset_page(JobFilter().queryset(), sort="-created", limit=1)
    with pytest.raises(InvalidCursor):
        decode("-finished", page.next_cursor)
    with pytest.raises(InvalidCursor):
        keyset_page(JobFilter().queryset(), after="not-a-cursor")
