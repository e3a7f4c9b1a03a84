"""Writing finished runs in groups: one statement per group, flushed within milliseconds or when full.

Slots hand over each run's Finish; a thread writes what piled up with one
``attempts_finish`` (its events go out as one batch), so a busy worker pays
one round trip to PostgreSQL per group instead of per job. A write that fails
(PostgreSQL away) is retried with backoff: a run that completed is never
turned into a failure because its outcome could not be written at once.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, close_old_connections, connection

from jobs.engine.attempts import Finish, attempts_finish

logger = logging.getLogger(__name__)

#: A group is written once this many runs wait, or FLUSH_DELAY after the first of them ended.
GROUP_MAX = 200
FLUSH_DELAY = 0.002
RETRY_MAX = 5.0
#: How often a busy finisher lets Django check and recycle its database connection.
CONNECTION_CHECK_INTERVAL = 10.0


class Finisher(threading.Thread):
    def __init__(self, *, written: Callable[[list[Finish], list[Any]], None]) -> None:
        super().__init__(name="finisher", daemon=True)
        self._written = written
        self._lock = threading.Condition()
        self._pending: list[Finish] = []
        self._writing = False
        self._closing = False
        self._checked = time.monotonic()

    def put(self, finish: Finish) -> None:
        with self._lock:
            self._pending.append(finish)
            self._lock.notify_all()

    def idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._writing

    def close(self, *, timeout: float) -> None:
        """Write what is left (trying for up to ``timeout`` seconds), then stop."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self.join(timeout)

    def run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._lock.wait()
                if not self._pending and self._closing:
                    break
                if len(self._pending) < GROUP_MAX and not self._closing:
                    self._lock.wait(FLUSH_DELAY)  # let the group fill for a moment
                group, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
                self._writing = True
            try:
                self._write(group)
            finally:
                with self._lock:
                    self._writing = False
                    self._lock.notify_all()
        connection.close()

    def _write(self, group: list[Finish]) -> None:
        delay = 0.1
        while True:
            now = time.monotonic()
            if connection.errors_occurred or now - self._checked >= CONNECTION_CHECK_INTERVAL:
                close_old_connections()
                self._checked = now
            try:
                rows = attempts_finish(sorted(group, key=lambda finish: str(finish.claim.job_id)))
            except DatabaseError as exc:
                logger.warning("event=finish_write_failed runs=%d retry_in=%.1fs error=%r", len(group), delay, exc)
                connection.close()
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            try:
                self._written(group, rows)
            except Exception:
                logger.exception("event=finish_callback_failed")
            return
