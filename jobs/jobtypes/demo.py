"""Demo and test job types; registered only when JOBS_DEMO_TYPES is on.

Tests and the benchmark use these to make workers sleep, fail, flake or do
nothing, with short backoffs so the suite stays fast.
"""
from __future__ import annotations

import asyncio
import time

from django.db import connection
from opentelemetry import trace
from pydantic import BaseModel, Field

from jobs.core.errors import PermanentError
from jobs.core.registry import job_type
from jobs.core.retry import RetryPolicy
from jobs.execution.context import JobContext

_tracer = trace.get_tracer(__name__)

#: Short, jitter-free backoff so retry tests measure exact gaps quickly.
FAST_RETRY = RetryPolicy(max_attempts=3, backoff="sequence", delays=(0.5, 1.0), jitter=0.0)


class NoopPayload(BaseModel):
    pass


class SleepPayload(BaseModel):
    seconds: float = Field(1.0, ge=0, le=3600)
    steps: int = Field(5, ge=1, le=1000, description="Progress reports while sleeping")


class SpinPayload(BaseModel):
    seconds: float = Field(1.0, ge=0, le=3600, description="Busy in pure Python for this long")


class FailPayload(BaseModel):
    message: str = "demo failure"
    permanent: bool = Field(False, description="Fail without retrying")


class LogPayload(BaseModel):
    lines: int = Field(3, ge=0, le=100_000, description="Lines each attempt logs")
    line_seconds: float = Field(0.0, ge=0, le=60, description="Pause after each line")
    failures: int = Field(0, ge=0, le=100, description="Attempts that fail (after their lines) before one succeeds")


class FlakyPayload(BaseModel):
    failures: int = Field(2, ge=0, le=100, description="Attempts that fail before one succeeds")
    steps: int = Field(0, ge=0, le=100, description="Progress stages each attempt reports before it fails or succeeds")
    step_seconds: float = Field(0.0, ge=0, le=60, description="How long each stage takes")


@job_type("demo.noop", payload=NoopPayload)
def noop(ctx: JobContext) -> None:
    """Does nothing; measures the engine's own overhead."""


@job_type("demo.sleep", payload=SleepPayload, min_time=lambda p: p.seconds)
def sleep(ctx: JobContext) -> dict:
    """Sleeps, reporting progress in steps (a stand-in for slow work)."""
    payload: SleepPayload = ctx.payload  # type: ignore[assignment]
    for step in range(payload.steps):
        ctx.progress(100 * step / payload.steps, stage=f"step {step + 1}/{payload.steps}")
        with _tracer.start_as_current_span(f"sleep step {step + 1}"):  # nests in the attempt's span when tracing
            time.sleep(payload.seconds / payload.steps)
    ctx.progress(100, stage="done")
    return {"slept": payload.seconds}


@job_type("demo.spin", payload=SpinPayload)
def spin(ctx: JobContext) -> dict:
    """Keeps a core busy in pure Python (a stand-in for a hung computation: no progress, no I/O)."""
    payload: SpinPayload = ctx.payload  # type: ignore[assignment]
    until = time.monotonic() + payload.seconds
    loops = 0
    while time.monotonic() < until:
        loops += 1
    return {"loops": loops}


@job_type("demo.async_sleep", payload=SleepPayload, min_time=lambda p: p.seconds)
async def async_sleep(ctx: JobContext) -> dict:
    """``async def`` handler: sleeps on the worker's event loop, reporting progress in steps."""
    payload: SleepPayload = ctx.payload  # type: ignore[assignment]
    for step in range(payload.steps):
        ctx.progress(100 * step / payload.steps, stage=f"step {step + 1}/{payload.steps}")
        await asyncio.sleep(payload.seconds / payload.steps)
    ctx.progress(100, stage="done")
    return {"slept": payload.seconds}


@job_type("demo.fail", payload=FailPayload, retry=FAST_RETRY)
def fail(ctx: JobContext) -> None:
    """Always fails (permanently, if asked)."""
    payload: FailPayload = ctx.payload  # type: ignore[assignment]
    if payload.permanent:
        raise PermanentError(payload.message)
    raise RuntimeError(payload.message)


@job_type("demo.flaky", payload=FlakyPayload, retry=FAST_RETRY)
def flaky(ctx: JobContext) -> dict:
    """Fails its first `failures` attempts, then succeeds; each attempt reports `steps` stages first."""
    payload: FlakyPayload = ctx.payload  # type: ignore[assignment]
    for step in range(payload.steps):
        ctx.progress(100 * step / payload.steps, stage=f"step {step + 1}/{payload.steps}")
        time.sleep(payload.step_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM jobs_jobattempt WHERE job_id = %s AND outcome IN ('error', 'timeout')",
            [ctx.job_id],
        )
        failed_so_far = cursor.fetchone()[0]
    failing = failed_so_far < payload.failures
    ctx.logger.info("flaky attempt %d: %s", ctx.attempt, "failing" if failing else "succeeding")
    if failing:
        raise RuntimeError(f"flaky failure {failed_so_far + 1} of {payload.failures}")
    return {"attempt": ctx.attempt}


@job_type("demo.log", payload=LogPayload, retry=FAST_RETRY, min_time=lambda p: p.lines * p.line_seconds)
def log(ctx: JobContext) -> dict:
    """Logs `lines` lines per attempt (through ctx.logger and ctx.log in turn), then fails its first `failures`
    attempts."""
    payload: LogPayload = ctx.payload  # type: ignore[assignment]
    for n in range(1, payload.lines + 1):
        if n % 2:
            ctx.logger.info("attempt %d line %d", ctx.attempt, n)
        else:
            ctx.log(f"attempt {ctx.attempt} line {n}")
        time.sleep(payload.line_seconds)
    if ctx.attempt <= payload.failures:
        ctx.logger.warning("attempt %d fails on purpose", ctx.attempt)
        raise RuntimeError(f"failing attempt {ctx.attempt} of {payload.failures} on purpose")
    return {"lines": payload.lines}
