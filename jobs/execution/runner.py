"""Running one claimed job: the handler under its time limit, and how the run ended.

``perform`` never raises: every ending, a broken handler included, becomes a
``Finish`` for the engine to write (jobs.engine.attempts.attempts_finish). The
project's worker calls it from its slots (jobs.execution.slots), which enforce
time limits from outside the thread; ``run_job`` is what an RQ message runs
when plain ``rqworker`` executes it: claim, perform under a SIGALRM deadline,
finish, one job at a time.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import traceback
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from django.db import connection
from psycopg.pq import TransactionStatus
from rq import get_current_job

from jobs.core import log_context, tracing
from jobs.core.config import get_config
from jobs.core.errors import (
    JobCancelled,
    JobTimeout,
    JobTypeError,
    LeaseLost,
    PermanentError,
    WorkerShutdown,
)
from jobs.core.registry import get_job_type
from jobs.core.states import AttemptOutcome, JobStatus
from jobs.core.transport import Dispatch
from jobs.engine.attempts import Claim, Finish, failed_run, job_claim
from jobs.engine.dispatch import jobs_undispatch
from jobs.events import metrics
from jobs.execution.context import JobContext, result_to_json
from jobs.execution.deadline import Deadline
from jobs.execution.finisher import finish_until_written
from jobs.execution.progress import ProgressWriter

logger = logging.getLogger(__name__)


def perform(claim: Claim, *, limit: AbstractContextManager[Any] | None = None,
            writer: ProgressWriter | None = None) -> Finish | None:
    """Run the claimed job's handler (under ``limit``, if given); how it ended, or None if the run lost its job."""
    with log_context.bound(**_about(claim)):
        if not tracing.enabled():
            return _perform(claim, limit=limit, writer=writer)
        with tracing.run_span(**_traced(claim)) as span:
            finish = _perform(claim, limit=limit, writer=writer)
            _run_ended(span, finish)
            return finish


def _traced(claim: Claim) -> dict[str, Any]:
    return {"job_id": str(claim.job_id), "job_type": claim.type, "queue": claim.queue, "attempt": claim.attempt,
            "traceparent": claim.traceparent}


def _run_ended(span: Any, finish: Finish | None) -> None:
    if finish is None:
        tracing.run_ended(span, outcome="lost", error="the run lost its job")
    else:
        tracing.run_ended(span, outcome=str(finish.outcome), error=finish.error[1] if finish.error else "")


def _about(claim: Claim) -> dict[str, Any]:
    """What the run's log lines are about, the handler's own included (jobs/core/log_context.py)."""
    return {"job_id": str(claim.job_id), "queue": claim.queue, "type": claim.type, "attempt": claim.attempt,
            "correlation_id": claim.correlation_id}


def _perform(claim: Claim, *, limit: AbstractContextManager[Any] | None, writer: ProgressWriter | None) -> Finish | None:
    started = time.monotonic()
    ctx: JobContext | None = None
    try:
        job_type = get_job_type(claim.type, load=True)
        ctx = JobContext(claim, payload=job_type.validate(claim.payload), writer=writer)
        with limit or nullcontext():
            value = job_type.handler(ctx)
        return Finish(claim, AttemptOutcome.COMPLETED, JobStatus.COMPLETED, time.monotonic() - started,
                      result=result_to_json(value), progress=ctx.last_progress, log=ctx.close_log())
    except BaseException as exc:  # noqa: BLE001 (every ending is recorded)
        return ended(claim, ctx, exc, started)


async def perform_async(claim: Claim, *, timeout: float, writer: ProgressWriter) -> Finish | None:
    """Run an ``async def`` handler on the worker's event loop; its time limit cancels it."""
    with log_context.bound(**_about(claim)):  # this coroutine's task has a context of its own
        if not tracing.enabled():
            return await _perform_async(claim, timeout=timeout, writer=writer)
        with tracing.run_span(**_traced(claim)) as span:
            finish = await _perform_async(claim, timeout=timeout, writer=writer)
            _run_ended(span, finish)
            return finish


async def _perform_async(claim: Claim, *, timeout: float, writer: ProgressWriter) -> Finish | None:
    started = time.monotonic()
    ctx: JobContext | None = None
    try:
        job_type = get_job_type(claim.type, load=True)
        ctx = JobContext(claim, payload=job_type.validate(claim.payload), writer=writer)
        try:
            value = await asyncio.wait_for(job_type.handler(ctx), timeout)
        except TimeoutError:
            raise JobTimeout(f"handler exceeded its time limit of {timeout:g} s") from None
        return Finish(claim, AttemptOutcome.COMPLETED, JobStatus.COMPLETED, time.monotonic() - started,
                      result=result_to_json(value), progress=ctx.last_progress, log=ctx.close_log())
    except asyncio.CancelledError:  # the worker's shutdown grace ran out
        return ended(claim, ctx, WorkerShutdown("worker shutdown grace period ran out"), started)
    except BaseException as exc:  # noqa: BLE001
        return ended(claim, ctx, exc, started)


def ended(claim: Claim, ctx: JobContext | None, exc: BaseException, started: float) -> Finish | None:
    """The Finish for a run that raised ``exc`` (None: the run lost its job, nothing may be written)."""
    duration = time.monotonic() - started
    if isinstance(exc, LeaseLost):
        return None
    if isinstance(exc, (WorkerShutdown, JobCancelled, JobTimeout)):
        _after_interruption()
    progress = ctx.last_progress if ctx is not None else None  # the row shows where the handler stopped
    log = ctx.close_log() if ctx is not None else ()
    if isinstance(exc, WorkerShutdown):
        return Finish(claim, AttemptOutcome.INTERRUPTED, JobStatus.PENDING, duration, progress=progress, log=log,
                      error=("WorkerShutdown", str(exc) or "worker shutdown grace period ran out", ""), uncharged=True)
    if isinstance(exc, JobCancelled):
        return Finish(claim, AttemptOutcome.CANCELLED, JobStatus.CANCELLED, duration, progress=progress, log=log,
                      error=("JobCancelled", "cancelled while running", ""))
    if isinstance(exc, JobTimeout) and not str(exc):  # raised into the thread by the watchdog
        exc = JobTimeout(f"handler exceeded its time limit of {claim.timeout:g} s").with_traceback(exc.__traceback__)
    outcome = AttemptOutcome.TIMEOUT if isinstance(exc, JobTimeout) else AttemptOutcome.ERROR
    retryable = not isinstance(exc, (PermanentError, JobTypeError))
    finish = replace(failed_run(claim, outcome, (type(exc).__name__, str(exc) or type(exc).__name__,
                                                 _format_traceback(exc)), duration, retryable=retryable),
                     progress=progress, log=log)
    logger.info("event=attempt_failed job=%s outcome=%s next=%s error=%s", claim.job_id, outcome, finish.status,
                type(exc).__name__, extra={"outcome": str(outcome), "duration": round(duration, 4),
                                           "error": f"{type(exc).__name__}: {exc}"[:500]})
    return finish


def worker_name() -> str:
    """The name RQ's worker registry knows this process by (RQ's current worker, else host.pid)."""
    rq_job = get_current_job()
    name = getattr(rq_job, "worker_name", None) if rq_job is not None else None
    return name or f"{socket.gethostname()}.{os.getpid()}"


def run_job(job_id: str) -> None:
    """What an RQ message runs under a plain RQ worker (django-rq's ``rqworker``): one job, start to end."""
    claim = job_claim(job_id, worker=worker_name(), pid=os.getpid(), lease=get_config().lease_seconds)
    if claim is None:
        rq_job = get_current_job()
        if rq_job is not None and jobs_undispatch([Dispatch(job_id, "", 0, rq_job.id)], only_paused=True):
            logger.info("event=bounced_paused job=%s", job_id)
        return
    finish = perform(claim, limit=Deadline(claim.timeout))
    if finish is not None:  # PostgreSQL away: retried, never raised to RQ (the lifeline would fail the run)
        finish_until_written([finish], lease=get_config().lease_seconds)
    if metrics.counts.forked:  # RQ's work horse ends with os._exit: nothing else would add this run's counts
        metrics.counts.flush()


def _format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-20000:]


def _after_interruption() -> None:
    """An exception raised from outside may have cut a query short; start the next on a clean connection."""
    raw = connection.connection
    if raw is not None and raw.info.transaction_status != TransactionStatus.IDLE:
        connection.close()
