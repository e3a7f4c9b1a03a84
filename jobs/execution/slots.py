"""Execution slots: up to N runs at once per queue, sync handlers on threads, ``async def`` ones on one loop.

Each queue a worker serves has ``concurrency`` slots (``run_worker
--concurrency`` or JOB_QUEUES); the threads are shared, the counts are per
queue. A handler's ORM work uses the process's connection pool: the slot
returns its connection after each run (and after each progress write,
jobs.execution.context), so connections per worker stay bounded by the pool
whatever N is. Ended runs go to ``on_finish`` (the finisher's batch).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable

from django.db import connection

from jobs.core.errors import JobTypeError
from jobs.core.registry import get_job_type
from jobs.engine.attempts import Claim, Finish
from jobs.execution.progress import ProgressWriter
from jobs.execution.run_state import Run
from jobs.execution.runner import ended, perform, perform_async

logger = logging.getLogger(__name__)


class Slots:
    def __init__(self, capacity: dict[str, int], *, on_finish: Callable[[Run, Finish | None], None],
                 writer: ProgressWriter | None = None) -> None:
        self.capacity = dict(capacity)
        self.writer = writer
        self._on_finish = on_finish
        self._lock = threading.Condition()
        self._runs: dict[int, Run] = {}  # attempt id -> run, while the handler runs
        self._busy = dict.fromkeys(capacity, 0)
        self._lost = dict.fromkeys(capacity, 0)  # written-off slots, never given back
        self._work: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"slot-{i}", daemon=True)
                         for i in range(sum(capacity.values()))]
        for thread in self._threads:
            thread.start()
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="slot-loop", daemon=True)
        self._loop_thread.start()

    # --- capacity ------------------------------------------------------------------

    def free(self) -> dict[str, int]:
        """Free slots per queue."""
        with self._lock:
            return {q: max(self.capacity[q] - self._busy[q] - self._lost[q], 0) for q in self.capacity}

    def running(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def busy(self) -> int:
        with self._lock:
            return sum(self._busy.values())

    def lost(self) -> int:
        with self._lock:
            return sum(self._lost.values())

    def wait_for_change(self, timeout: float) -> None:
        """Block until a run ends (a slot frees) or ``timeout`` passes."""
        with self._lock:
            self._lock.wait(timeout)

    # --- running -------------------------------------------------------------------

    def submit(self, claims: list[Claim]) -> None:
        for claim in claims:
            run = Run(claim, deadline=0.0)
            with self._lock:
                self._busy[claim.queue] = self._busy.get(claim.queue, 0) + 1
                self._runs[claim.attempt_id] = run
            if self._is_async(claim):
                asyncio.run_coroutine_threadsafe(self._run_async(run), self._loop)
            else:
                self._work.put(run)

    @staticmethod
    def _is_async(claim: Claim) -> bool:
        try:
            return inspect.iscoroutinefunction(get_job_type(claim.type, load=True).handler)
        except JobTypeError:
            return False  # perform() records the unknown type as the run's error

    def _serve(self) -> None:
        while True:
            run = self._work.get()
            if run is None:
                return
            finish = self._perform(run, self.writer)
            self._release_connection()
            self._ended(run, finish)
            if run.written_off:
                return  # this thread's slot was given up for lost; it does not take more work

    @staticmethod
    def _perform(run: Run, writer: ProgressWriter | None = None) -> Finish | None:
        """perform() in this thread, open to exceptions raised into it from outside only while it runs."""
        finish: Finish | None = None
        try:
            try:
                with run.lock:
                    run.started = time.monotonic()
                    run.deadline = run.started + run.claim.timeout
                    pending = run.stopping
                    run.thread_id = None if pending else threading.get_ident()
                if pending is not None:  # stopped (a shutdown) before its handler began: it does not begin
                    return ended(run.claim, None, pending(), run.started)
                finish = perform(run.claim, writer=writer)
            finally:
                with run.lock:
                    run.thread_id = None
        except BaseException as exc:  # noqa: BLE001 (a stop raised into us just as perform returned)
            run.thread_id = None
            logger.warning("event=late_stop job=%s error=%r", run.claim.job_id, exc)
        return finish

    async def _run_async(self, run: Run) -> None:
        run.task = asyncio.current_task()
        run.started = time.monotonic()
        run.deadline = run.started + run.claim.timeout
        finish: Finish | None = None
        try:
            finish = await perform_async(run.claim, timeout=run.claim.timeout, writer=self.writer)
        except BaseException as exc:  # noqa: BLE001 (perform_async records every ending; this is a bug)
            logger.exception("event=async_run_failed job=%s error=%r", run.claim.job_id, exc)
        finally:
            self._ended(run, finish)  # the loop's thread holds no database connection: nothing to release

    def _ended(self, run: Run, finish: Finish | None) -> None:
        if self.writer is not None:
            self.writer.discard(run.attempt_id)
        with self._lock:
            if self._runs.pop(run.attempt_id, None) is not None and not run.written_off:
                self._busy[run.queue] -= 1
            self._lock.notify_all()
        if not run.written_off:
            self._on_finish(run, finish)

    def write_off(self, run: Run) -> None:
        """Give the run's slot up for lost (its thread is stuck in C): it no longer counts as busy."""
        with self._lock:
            if self._runs.pop(run.attempt_id, None) is not None:
                self._busy[run.queue] -= 1
                self._lost[run.queue] += 1
            self._lock.notify_all()

    @staticmethod
    def _release_connection() -> None:
        if not connection.in_atomic_block:
            connection.close()  # back to the pool

    def close(self) -> None:
        for _ in self._threads:
            self._work.put(None)
        self._loop.call_soon_threadsafe(self._loop.stop)
