"""jobs.execution.lease: the lease keeper renews the running attempt's lease, and only that."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.enqueue import job_enqueue
from jobs.execution.lease import LeaseKeeper
from jobs.models import JobAttempt

pytestmark = pytest.mark.django_db


def attempt(*, finished: bool = False) -> JobAttempt:
    job = job_enqueue(type="demo.noop", payload={}).job
    now = timezone.now()
    return JobAttempt.objects.create(job=job, number=1, worker="w", pid=1, started_at=now,
                                     lease_expires_at=now + timedelta(seconds=1),
                                     finished_at=now if finished else None)


def test_renew_pushes_the_open_attempts_lease_forward_and_beats() -> None:
    running = attempt()
    beats: list[int] = []
    keeper = LeaseKeeper(lease=60, attempt_id=lambda: running.id, beat=lambda: beats.append(1))
    keeper.renew()
    running.refresh_from_db()
    assert running.lease_expires_at > timezone.now() + timedelta(seconds=50)
    assert beats == [1]


def test_renew_leaves_a_closed_attempt_alone_and_does_nothing_between_runs() -> None:
    closed = attempt(finished=True)
    before = closed.lease_expires_at
    keeper = LeaseKeeper(lease=60, attempt_id=lambda: closed.id, beat=lambda: None)
    keeper.renew()
    closed.refresh_from_db()
    assert closed.lease_expires_at == before
    beats: list[int] = []
    LeaseKeeper(lease=60, attempt_id=lambda: None, beat=lambda: beats.append(1)).renew()
    assert beats == []  # no run, no renewal and no heartbeat


def test_a_failing_renewal_is_logged_and_the_keeper_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken_beat() -> None:
        raise ConnectionError("redis went away")

    running = attempt()
    LeaseKeeper(lease=60, attempt_id=lambda: running.id, beat=broken_beat).renew()
    assert "event=lease_renewal_failed" in caplog.text
