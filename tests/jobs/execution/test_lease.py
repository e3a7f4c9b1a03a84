"""jobs.execution.lease: one statement renews every running attempt; a closed one means the run must stop."""
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


def keeper(running: list[int], lost: list[set[int]], beats: list[int] | None = None) -> LeaseKeeper:
    return LeaseKeeper(lease=60, running=lambda: running, on_lost=lost.append,
                       beat=lambda: beats.append(1) if beats is not None else None)


def test_renew_pushes_every_open_attempts_lease_forward_and_beats() -> None:
    runs = [attempt(), attempt()]
    lost: list[set[int]] = []
    beats: list[int] = []
    keeper([run.id for run in runs], lost, beats).renew()
    for run in runs:
        run.refresh_from_db()
        assert run.lease_expires_at > timezone.now() + timedelta(seconds=50)
    assert lost == [] and beats == [1]


def test_an_attempt_closed_elsewhere_is_reported_lost_and_not_renewed() -> None:
    running, closed = attempt(), attempt(finished=True)
    before = closed.lease_expires_at
    lost: list[set[int]] = []
    keeper([running.id, closed.id], lost).renew()
    closed.refresh_from_db()
    assert closed.lease_expires_at == before
    assert lost == [{closed.id}]


def test_a_failing_renewal_is_logged_and_the_keeper_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken_beat() -> None:
        raise ConnectionError("redis went away")

    running = attempt()
    LeaseKeeper(lease=60, running=lambda: [running.id], on_lost=lambda ids: None, beat=broken_beat).renew()
    assert "event=heartbeat_failed" in caplog.text
