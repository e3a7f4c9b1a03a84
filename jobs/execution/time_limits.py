"""Time limits that hold in threads: a watchdog raises into the handler's thread; stuck runs are written off.

A signal can only interrupt the main thread, so a slot's handler is stopped
the way Dramatiq's time-limit middleware does it: ``PyThreadState_SetAsyncExc``
raises JobTimeout (or WorkerShutdown, LeaseLost) inside the thread at its next
Python instruction. A handler blocked in C (a long ``time.sleep``, a socket
read without a timeout) does not run Python instructions and cannot be
interrupted; after ``JOB_TIMEOUT_GRACE`` more seconds its run is written off:
the watchdog closes its attempt (``timeout``, retried by policy; ``interrupted``
on shutdown), the slot is lost, and the worker exits for a restart once half of
its slots are lost. The handler's side effects may then still happen when the C
call returns; its writes to the job are refused (the attempt is closed).
``async def`` handlers are cancelled instead (jobs.execution.runner.perform_async).
"""
from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

from jobs.core.errors import JobTimeout
from jobs.execution.run_state import Run

logger = logging.getLogger(__name__)

TICK = 0.05


def raise_in_thread(thread_id: int, exc: type[BaseException]) -> bool:
    """Make ``exc`` be raised in thread ``thread_id`` at its next Python instruction."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))
    if done > 1:  # more than one thread state changed: undo, as the C API documentation asks
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return done == 1


def stop_run(run: Run, exc: type[BaseException]) -> None:
    """Ask a run to stop with ``exc`` (once; a later, different request replaces a pending one)."""
    with run.lock:
        if run.written_off or run.stopping is exc:
            return
        run.stopping, run.stopping_since = exc, time.monotonic()
        if run.thread_id is not None:
            raise_in_thread(run.thread_id, exc)
        elif run.task is not None:
            loop = run.task.get_loop()  # type: ignore[attr-defined]
            loop.call_soon_threadsafe(run.task.cancel)  # type: ignore[attr-defined]


class Watchdog(threading.Thread):
    """Every TICK: runs past their deadline get JobTimeout; runs that ignored a stop for ``grace``
    seconds are handed to ``write_off``."""

    def __init__(self, *, running: Callable[[], list[Run]], write_off: Callable[[Run], None], grace: float) -> None:
        super().__init__(name="watchdog", daemon=True)
        self._running = running
        self._write_off = write_off
        self.grace = grace
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(TICK):
            self.check()

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for run in self._running():
            if run.written_off:
                continue
            if run.stopping is None and run.thread_id is not None and now >= run.deadline:
                stop_run(run, JobTimeout)
            elif run.stopping is not None and now - run.stopping_since >= self.grace:
                with run.lock:
                    if run.written_off:
                        continue
                    run.written_off = True
                logger.error("event=run_written_off job=%s attempt=%s stuck_for=%.1fs", run.claim.job_id,
                             run.attempt_id, now - run.stopping_since)
                self._write_off(run)

    def stop(self) -> None:
        self._stop_event.set()
