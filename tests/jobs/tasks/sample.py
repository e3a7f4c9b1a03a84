"""Tasks the tests enqueue; workers import this module by the tasks' module paths."""
from __future__ import annotations

import asyncio

from jobs.tasks.api import task
from jobs.tasks.types import JobTaskContext


@task
def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


@task(takes_context=True)
def flaky(context: JobTaskContext, failures: int) -> dict:
    if context.attempt <= failures:
        raise ValueError(f"attempt {context.attempt} fails")
    context.progress(100, stage="done")
    return {"attempt": context.attempt}


@task
def always_fails() -> None:
    raise LookupError("nothing here")


@task
async def async_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


@task
def record(label: str) -> str:
    return label


def not_a_task() -> str:
    """A plain function: a job naming it must never run it."""
    raise AssertionError("a non-task dotted path was executed")
