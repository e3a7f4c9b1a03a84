"""What RQ executes: claim the job, run its handler, record the outcome.

Never raises: every outcome, including a broken handler, is recorded in
PostgreSQL, so RQ's own failure handling (and a second source of truth) never
comes into play. The run's state (attempt, deadline, shutdown request,
outcome) is the RunState the worker handed over (jobs.execution.run_state).
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

from jobs.core.config import get_config
from jobs.core.errors import JobCancelled, JobTimeout, JobTypeError, PermanentError, WorkerShutdown
from jobs.core.registry import get_job_type
from jobs.core.states import AttemptOutcome
from jobs.core.transport import Dispatch
from jobs.engine.attempts import (
    Claim,
    job_cancel_running,
    job_claim,
    job_complete,
    job_fail_attempt,
    job_interrupt,
)
from jobs.engine.dispatch import jobs_undispatch
from jobs.execution.context import JobContext, result_to_json
from jobs.execution.deadline import Deadline
from jobs.execution.run_state import RunState, current_run

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """The name RQ's worker registry knows this process by (RQ's current worker, else host.pid)."""
    rq_job = get_current_job()
    name = getattr(rq_job, "worker_name", None) if rq_job is not None else None
    return name or f"{socket.gethostname()}.{os.getpid()}"


def run_job(job_id: str) -> None:
    state = current_run()
    state.failed = False
    claim = job_claim(job_id, worker=worker_name(), pid=os.getpid(), lease=get_config().lease_seconds)
    if claim is None:
        rq_job = get_current_job()
        if rq_job is not None and jobs_undispatch([Dispatch(job_id, "", 0, rq_job.id)], only_paused=True):
            logger.info("event=bounced_paused job=%s", job_id)
        return
    state.claim = claim
    try:
        _run_handler(claim, state)
    finally:
        state.claim = None


def _run_handler(claim: Claim, state: RunState) -> None:
    started = time.monotonic()
    ctx: JobContext | None = None
    try:
        job_type = get_job_type(claim.type)
        ctx = JobContext(claim, payload=job_type.validate(claim.payload))
        with Deadline(claim.timeout) as deadline:
            state.arm(deadline)
            value = job_type.handler(ctx)
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
        _fail(claim, state, ctx, exc, AttemptOutcome.TIMEOUT, started, retryable=True)
        return
    except (PermanentError, JobTypeError) as exc:
        _fail(claim, state, ctx, exc, AttemptOutcome.ERROR, started, retryable=False)
        return
    except Exception as exc:
        _fail(claim, state, ctx, exc, AttemptOutcome.ERROR, started, retryable=True)
        return
    finally:
        state.deadline = None
    job_complete(claim, result=result, duration=time.monotonic() - started)


def _fail(
    claim: Claim,
    state: RunState,
    ctx: JobContext | None,
    exc: BaseException,
    outcome: AttemptOutcome,
    started: float,
    *,
    retryable: bool,
) -> None:
    state.failed = True
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
