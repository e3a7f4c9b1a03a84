"""Crash recovery: runs whose worker vanished are closed as ``lost`` and retried or failed.

A worker renews its attempt's lease while the handler runs (jobs.execution.
lease). A SIGKILLed worker, a dead machine or a network partition stops the
renewals; once the lease has run out the leader's scheduler closes the
attempt and applies the job's retry policy, exactly as for an error, through
the same finish a worker uses (jobs.engine.attempts.attempts_finish). The
finish of a worker that comes back later is refused, because its attempt is
no longer open.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from jobs.core.states import AttemptOutcome
from jobs.engine.attempts import Claim, attempts_finish, failed_run
from jobs.models import QueueJob

logger = logging.getLogger(__name__)

LOST_MESSAGE = "worker stopped renewing its lease (killed, crashed or cut off)"

_EXPIRED_SQL = """
SELECT j.*, a.id AS attempt_id, a.worker AS attempt_worker, a.started_at AS attempt_started_at
  FROM jobs_jobattempt a JOIN jobs_queuejob j ON j.id = a.job_id
 WHERE a.finished_at IS NULL AND a.lease_expires_at < now()
   AND j.status = 'active' AND j.attempts = a.number
 ORDER BY a.lease_expires_at LIMIT %s
   FOR UPDATE OF a, j SKIP LOCKED
"""


def jobs_rescue_lost(*, limit: int = 100) -> int:
    """Close expired attempts of active jobs; returns how many jobs were rescued."""
    with transaction.atomic():
        now = timezone.now()
        finishes = [
            failed_run(Claim.of(job, job.attempt_id), AttemptOutcome.LOST,
                       ("WorkerLost", f"{LOST_MESSAGE}: {job.attempt_worker}", ""),
                       (now - job.attempt_started_at).total_seconds(), retryable=True)
            for job in QueueJob.objects.raw(_EXPIRED_SQL, [limit])
        ]
        rescued = attempts_finish(finishes)
    for job in rescued:
        logger.warning("event=attempt_lost job=%s next=%s", job.id, job.status)
    return len(rescued)
