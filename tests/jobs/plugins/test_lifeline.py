"""The lifeline (jobs/plugins/lifeline.py): expired runs are closed as lost and their jobs retried or failed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.engine.attempts import job_claim
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobAttempt, QueueJob
from jobs.plugins.lifeline import jobs_rescue_lost

pytestmark = pytest.mark.django_db(transaction=True)


def claimed_and_expired(**enqueue: object) -> QueueJob:
    """A job whose run started in this process and whose lease ran out (its worker was killed)."""
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1, "steps": 1}, **enqueue).job
    claim = job_claim(job.id, worker="gone", pid=1, lease=30)
    assert claim is not None
    JobAttempt.objects.filter(pk=claim.attempt_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    return job


def test_a_row_without_a_policy_snapshot_is_rescued_by_its_types_policy_and_holds_up_no_other() -> None:
    """A row written around the enqueue services (by hand, or by an older version) may have no policy
    snapshot. Its lost run must not raise in the rescue: that would roll back every rescue of the batch,
    on every tick, so one such row would leave all lost jobs active for good."""
    bare = claimed_and_expired()
    QueueJob.objects.filter(pk=bare.id).update(retry_policy={})
    broken = claimed_and_expired()
    QueueJob.objects.filter(pk=broken.id).update(retry_policy={"max_attempts": 3, "delays": "soon"})
    sound = claimed_and_expired()

    assert jobs_rescue_lost() == 3
    for job in (bare, broken, sound):
        row = QueueJob.objects.get(pk=job.id)
        assert row.status == JobStatus.RETRYING and row.run_at is not None, row.status
        assert JobAttempt.objects.get(job_id=job.id).outcome == AttemptOutcome.LOST
    # demo.sleep declares no policy: its queue's (default: 1 s, then 5 s, then 30 s, jitter 10 %).
    wait = QueueJob.objects.get(pk=bare.id).run_at - timezone.now()
    assert timedelta(seconds=0.5) < wait < timedelta(seconds=1.2), wait


def test_a_row_without_a_policy_snapshot_fails_for_good_when_its_attempts_are_spent() -> None:
    job = claimed_and_expired(max_attempts=1)
    QueueJob.objects.filter(pk=job.id).update(retry_policy={})
    assert jobs_rescue_lost() == 1
    assert QueueJob.objects.get(pk=job.id).status == JobStatus.FAILED
