"""Time limits for the handler, enforced in the worker's main thread.

RQ's own death penalty is switched off (jobs.worker.NoDeathPenalty) because
the runner must know *why* a handler was stopped: its own timeout (attempt
outcome ``timeout``, retried by policy) or the worker's shutdown grace
period running out (outcome ``interrupted``, job put back uncharged). Both
share the one real-time interval timer; SIGALRM raises the right exception
inside the handler, interrupting sleeps and blocking I/O.
"""
from __future__ import annotations

import signal
import time
from types import FrameType, TracebackType

from jobs.core.errors import JobTimeout, WorkerShutdown


class Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._ends_at = 0.0
        self._exception: type[BaseException] = JobTimeout
        self._previous_handler: object = None

    def __enter__(self) -> Deadline:
        self._previous_handler = signal.signal(signal.SIGALRM, self._fire)
        self._ends_at = time.monotonic() + self.timeout
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_handler)  # type: ignore[arg-type]

    def shorten(self, seconds: float) -> None:
        """Stop the handler for a worker shutdown in ``seconds``, unless its own limit comes first."""
        seconds = max(seconds, 0.001)
        if time.monotonic() + seconds < self._ends_at:
            self._exception = WorkerShutdown
            self._ends_at = time.monotonic() + seconds
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        if self._exception is WorkerShutdown:
            raise WorkerShutdown("worker shutdown grace period ran out")
        raise JobTimeout(f"handler exceeded its time limit of {self.timeout:g} s")
