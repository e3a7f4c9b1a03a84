"""What a log line is about: the request's or the job's correlation id, and the job being run.

Set where work starts (jobsite/correlation.py for a web request, the runner for
an attempt: jobs/execution/runner.py) and read by the log filter
(jobsite/logs.py), which puts the fields on every record, and by ``build_job``,
which gives a job enqueued inside that work the same correlation id (a job
created by an API request, or by another job's handler, carries its id on).
Context variables, so each request, slot thread and async handler has its own.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_fields: ContextVar[Mapping[str, Any]] = ContextVar("log_fields", default=MappingProxyType({}))
#: Fields of the whole process (a worker's name), on every line of every thread.
_process: dict[str, Any] = {}


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (those not None or empty) to what lines logged inside are about."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _fields.reset(token)


def bind_process(**fields: Any) -> None:
    _process.update(fields)


def current() -> dict[str, Any]:
    return {**_process, **_fields.get()}


def correlation_id() -> str:
    return str(_fields.get().get("correlation_id", ""))
