"""The state of the run in progress, shared by the worker that owns it and the runner that fills it.

The worker makes one RunState per RQ job (jobs.execution.worker) and hands it
to the runner through ``running()``; its signal handlers ask it to shut down,
its lease keeper (jobs.execution.lease) renews the attempt it names. A runner
started by plain ``rqworker`` gets a fresh one: no lease keeper, no grace.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from jobs.engine.attempts import Claim
from jobs.execution.deadline import Deadline


@dataclass
class RunState:
    #: The attempt running now (None before the claim and after the finish).
    claim: Claim | None = None
    #: The handler's time limit while it runs; a shutdown shortens it.
    deadline: Deadline | None = None
    #: When (time.monotonic()) a requested worker shutdown must have stopped the handler.
    shutdown_by: float | None = None
    #: Whether the run ended in an error or a timeout (the worker counts failed runs for the dashboard).
    failed: bool = False

    @property
    def attempt_id(self) -> int | None:
        claim = self.claim
        return None if claim is None else claim.attempt_id

    def request_shutdown(self, grace: float) -> None:
        """Give the running handler ``grace`` seconds more, then stop it and put its job back.

        Remembered, not only applied: the signal may land between the claim and
        the moment the handler's deadline is armed, and must not be lost there.
        """
        by = time.monotonic() + grace
        self.shutdown_by = by if self.shutdown_by is None else min(self.shutdown_by, by)
        if self.deadline is not None:
            self.deadline.shorten(grace)

    def arm(self, deadline: Deadline) -> None:
        """The handler starts under ``deadline``; a shutdown already requested applies to it now."""
        self.deadline = deadline
        if self.shutdown_by is not None:
            deadline.shorten(self.shutdown_by - time.monotonic())


_current: ContextVar[RunState | None] = ContextVar("run_state", default=None)


@contextmanager
def running(state: RunState) -> Iterator[RunState]:
    """Make ``state`` the one the runner fills while the block runs (the worker wraps each RQ job)."""
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


def current_run() -> RunState:
    """The state the worker handed over, or a fresh one (a runner started by another RQ worker)."""
    return _current.get() or RunState()
