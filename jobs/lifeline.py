"""Crash recovery: runs whose worker vanished are closed as ``lost`` and retried or failed.

A worker renews its attempt's lease while the handler runs (jobs.worker.
LeaseKeeper). A SIGKILLed worker, a dead machine or a network partition stops
the renewals; once the lease has run out the leader's scheduler closes the
attempt and applies the job's retry policy, exactly as for an error. The
finish of a worker that comes back later is refused, because its attempt is
no longer open (jobs.transitions._FINISH_SQL).
"""
from __future__ import annotations

import json
import logging

from django.db import connection, transaction

from jobs.events import emit
from jobs.states import JobStatus
from jobs.transitions import after_failure

logger = logging.getLogger(__name__)

LOST_MESSAGE = "worker stopped renewing its lease (killed, crashed or cut off)"


def jobs_rescue_lost(*, limit: int = 100) -> int:
    """Close expired attempts of active jobs; returns how many jobs were rescued."""
    rescued = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.worker, j.id, j.type, j.queue, j.retry_policy::text, j.attempts - j.interruptions,
                   j.max_attempts, j.correlation_id
              FROM jobs_jobattempt a JOIN jobs_queuejob j ON j.id = a.job_id
             WHERE a.finished_at IS NULL AND a.lease_expires_at < now()
               AND j.status = 'active' AND j.attempts = a.number
             ORDER BY a.lease_expires_at LIMIT %s
               FOR UPDATE OF a, j SKIP LOCKED
            """,
            [limit],
        )
        rows = cursor.fetchall()
        events = []
        for attempt_id, worker, job_id, job_type, queue, policy, charged, max_attempts, correlation_id in rows:
            status, run_at = after_failure(json.loads(policy), charged=charged, max_attempts=max_attempts,
                                           retryable=True)
            cursor.execute(
                "UPDATE jobs_jobattempt SET finished_at = now(), outcome = 'lost', error_type = 'WorkerLost',"
                " error_message = %s, duration = EXTRACT(EPOCH FROM now() - started_at) WHERE id = %s",
                [f"{LOST_MESSAGE}: {worker}", attempt_id],
            )
            cursor.execute(
                "UPDATE jobs_queuejob SET status = %s, run_at = %s, error = %s, updated_at = now(),"
                " finished_at = CASE WHEN %s::text = 'failed' THEN now() END WHERE id = %s",
                [status, run_at, f"WorkerLost: {LOST_MESSAGE}", status, job_id],
            )
            rescued += 1
            events.append((status, job_id, {"type": job_type, "queue": queue, "status": status,
                                             "error": f"WorkerLost: {LOST_MESSAGE}", "correlation_id": correlation_id}))
            logger.warning("event=attempt_lost job=%s worker=%s next=%s", job_id, worker, status)
        transaction.on_commit(lambda: _emit_all(events))
    return rescued


def _emit_all(events: list[tuple[str, object, dict]]) -> None:
    for status, job_id, fields in events:
        emit("job:retrying" if status == JobStatus.RETRYING else "job:failed", job_id, **fields)
