"""Exceptions a handler may raise, and the ones the engine raises into it."""
from __future__ import annotations


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help (bad input, missing entity).

    The job goes straight to the dead-letter queue whatever attempts are left.
    """


class JobCancelled(BaseException):
    """Raised inside the handler when someone cancelled the running job.

    A BaseException so that a handler's broad ``except Exception`` cannot
    swallow it by accident.
    """


class JobTimeout(BaseException):
    """Raised inside the handler when its time limit has passed."""


class WorkerShutdown(BaseException):
    """Raised inside the handler when the worker's shutdown grace period ran out."""


class LeaseLost(BaseException):
    """Raised inside the handler when its attempt was closed elsewhere (the lifeline declared it lost):
    the run must stop, and nothing it would write is accepted any more."""


class JobTypeError(Exception):
    """Unknown job type, or a payload its schema rejects; carries field errors."""

    def __init__(self, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class EnqueueRefused(JobTypeError):
    """The caller may not enqueue this type (or at this priority): HTTP 403 with the field errors."""


class InvalidTransition(Exception):
    """The job is not in a state that allows the requested action (HTTP 409)."""
