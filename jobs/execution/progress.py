"""Progress and log lines of the runs in slots, written in groups by one thread: handlers never wait for
PostgreSQL.

A handler's ``ctx.progress`` (at most every PROGRESS_WRITE_INTERVAL per run,
jobs.execution.context) hands its latest state here; every FLUSH_INTERVAL the
thread writes what changed with one statement (jobs.engine.attempts.
jobs_progress, guarded by attempt) and, every CANCEL_POLL, reads which running
jobs someone asked to stop with one query. Fifty slots then cost two
statements a tick and one pooled connection, not fifty connections; the
cancel flag a handler sees is at most CANCEL_POLL old. Runs whose handler
logged since the last tick (jobs.execution.run_log) have their lines written
in the same tick, with one more statement for all of them; a tick with none
costs nothing more.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from django.db import connection

from jobs.engine.attempts import Claim, jobs_cancel_requested, jobs_progress
from jobs.execution.run_log import RunLog, run_logs_write

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05
CANCEL_POLL = 0.5


class ProgressWriter(threading.Thread):
    def __init__(self, *, running: Callable[[], list[uuid.UUID]]) -> None:
        super().__init__(name="progress-writer", daemon=True)
        self._running = running
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Claim, int, str, str]] = {}  # attempt id -> latest state
        self._logs: dict[int, RunLog] = {}  # attempt id -> its log, with lines waiting
        self._cancelled: set[uuid.UUID] = set()
        self._polled = 0.0
        self._stop_event = threading.Event()

    def put(self, claim: Claim, percent: int, stage: str, message: str) -> None:
        with self._lock:
            self._pending[claim.attempt_id] = (claim, percent, stage, message)

    def put_log(self, run_log: RunLog) -> None:
        """The run's handler logged: write its lines at the next tick."""
        with self._lock:
            self._logs[run_log.attempt_id] = run_log

    def discard(self, attempt_id: int) -> None:
        """The run ended: its finish carries its last progress and lines, so writes still waiting are not needed."""
        with self._lock:
            self._pending.pop(attempt_id, None)
            self._logs.pop(attempt_id, None)

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        return job_id in self._cancelled

    def run(self) -> None:
        while not self._stop_event.wait(FLUSH_INTERVAL):
            self.flush()
        connection.close()

    def flush(self) -> None:
        with self._lock:
            # In job id order, as the finisher writes: two writers locking rows in one order cannot deadlock.
            updates = sorted(self._pending.values(), key=lambda update: str(update[0].job_id))
            self._pending = {}
            logs, self._logs = list(self._logs.values()), {}
        if logs:
            self._write_logs(logs)
        try:
            flags = jobs_progress(updates)
            self._cancelled |= {job_id for job_id, requested in flags.items() if requested}
            now = time.monotonic()
            if now - self._polled >= CANCEL_POLL:
                self._polled = now
                running = self._running()
                self._cancelled = jobs_cancel_requested(running) if running else set()
        except Exception as exc:  # progress is best effort: the next tick carries the latest state anyway
            logger.warning("event=progress_write_failed runs=%d error=%r", len(updates), exc)
            connection.close()

    def _write_logs(self, logs: list[RunLog]) -> None:
        try:
            run_logs_write(logs)
        except Exception as exc:  # the lines stay waiting: tried again next tick (or go with the run's finish)
            logger.warning("event=log_write_failed runs=%d error=%r", len(logs), exc)
            connection.close()
            with self._lock:
                for run_log in logs:
                    self._logs.setdefault(run_log.attempt_id, run_log)

    def stop(self) -> None:
        self._stop_event.set()
