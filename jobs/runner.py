"""What RQ executes: claim the job, run its handler, record the outcome.

Never raises: every outcome, including a broken handler, is recorded in
PostgreSQL, so RQ's own failure handling (and a second source of truth) never
comes into play.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback

from django.db import connection
from psycopg.pq import TransactionStatus
from rq import get_current_job

from jobs.conf import get_config
from jobs.context import JobContext, result_to_json
from jobs.deadline import Deadline
from jobs.errors import JobCancelled, JobTimeout, JobTypeError, PermanentError, WorkerShutdown
from jobs.registry import get_job_type
from jobs.states import AttemptOutcome
from jobs.transitions import (
    Claim,
    job_bounce_if_paused,
    job_cancel_running,
    job_claim,
    job_complete,
    job_fail_attempt,
    job_interrupt,
)

logger = logging.getLogger(__name__)

#: The Deadline of the handler running now, so a shutdown signal can shorten it.
current_deadline: Deadline | None = None
#: When (time.monotonic()) a requested worker shutdown must have stopped the handler.
_shutdown_by: float | None = None
#: The attempt running now, whose lease the worker's lease keeper renews.
current_attempt_id: int | None = None
#: Whether the last run ended in an error or a timeout (the worker counts failed runs for the dashboard).
last_run_failed = False
_worker_name = f"{socket.gethostname()}.{os.getpid()}"


def set_worker_name(name: str) -> None:
    global _worker_name
    _worker_name = name


def request_shutdown(grace: float) -> None:
    """Give the running handler ``grace`` seconds more, then stop it and put its job back.

    Remembered, not only applied: the signal may land between the claim and
    the moment the handler's deadline is armed, and must not be lost there.
    """
    global _shutdown_by
    by = time.monotonic() + grace
    _shutdown_by = by if _shutdown_by is None else min(_shutdown_by, by)
    if current_deadline is not None:
        current_deadline.shorten(grace)


def run_job(job_id: str) -> None:
    global last_run_failed
    last_run_failed = False
    claim = job_claim(job_id, worker=_worker_name, pid=os.getpid(), lease=get_config().lease_seconds)
    if claim is None:
        rq_job = get_current_job()
        if rq_job is not None and job_bounce_if_paused(job_id, rq_job.id):
            logger.info("event=bounced_paused job=%s", job_id)
        return
    _execute(claim)


def _execute(claim: Claim) -> None:
    global current_attempt_id
    current_attempt_id = claim.attempt_id
    try:
        _run_handler(claim)
    finally:
        current_attempt_id = None


def _run_handler(claim: Claim) -> None:
    global current_deadline
    started = time.monotonic()
    ctx: JobContext | None = None
    try:
        job_type = get_job_type(claim.type)
        ctx = JobContext(
            job_id=claim.job_id,
            job_type=claim.type,
            queue=claim.queue,
            attempt=claim.attempt,
            payload=job_type.validate(claim.payload),
            correlation_id=claim.correlation_id,
        )
        with Deadline(claim.timeout) as current_deadline:
            if _shutdown_by is not None:
                current_deadline.shorten(_shutdown_by - time.monotonic())
            value = job_type.handler(ctx)
        current_deadline = None
        result = result_to_json(value)
    except WorkerShutdown as exc:
        _after_interruption()
        job_interrupt(claim, duration=time.monotonic() - started, reason=str(exc))
        return
    except JobCancelled:
        _after_interruption()
        job_cancel_running(claim, duration=time.monotonic() - started)
        return
    except JobTimeout as exc:
        _after_interruption()
        _fail(claim, ctx, exc, AttemptOutcome.TIMEOUT, started, retryable=True)
        return
    except (PermanentError, JobTypeError) as exc:
        _fail(claim, ctx, exc, AttemptOutcome.ERROR, started, retryable=False)
        return
    except Exception as exc:
        _fail(claim, ctx, exc, AttemptOutcome.ERROR, started, retryable=True)
        return
    finally:
        current_deadline = None
    job_complete(claim, result=result, duration=time.monotonic() - started)


def _fail(
    claim: Claim,
    ctx: JobContext | None,
    exc: BaseException,
    outcome: AttemptOutcome,
    started: float,
    *,
    retryable: bool,
) -> None:
    global last_run_failed
    last_run_failed = True
    if ctx is not None:
        ctx.flush()  # the row shows where the handler stopped
    error = (type(exc).__name__, str(exc) or type(exc).__name__, _format_traceback(exc))
    status = job_fail_attempt(
        claim, outcome=outcome, error=error, duration=time.monotonic() - started, retryable=retryable
    )
    logger.info("event=attempt_failed job=%s outcome=%s next=%s error=%s", claim.job_id, outcome, status, error[0])


def _format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-20000:]


def _after_interruption() -> None:
    """An exception raised by a signal may have cut a query short; start the next on a clean connection."""
    raw = connection.connection
    if raw is not None and raw.info.transaction_status != TransactionStatus.IDLE:
        connection.close()

