"""Writing finished runs in groups: one statement per group, flushed within milliseconds or when full.

Slots hand over each run's Finish; a thread writes what piled up with one
``attempts_finish`` (its events go out as one batch), so a busy worker pays
one round trip to PostgreSQL per group instead of per job. A write that fails
(PostgreSQL away) is retried with backoff until PostgreSQL answers
(``finish_until_written``, the rqworker path uses it too): a run that
completed is never turned into a failure because its outcome could not be
written at once.

The retries stay within the lease: the lease keeper goes on renewing the
attempts whose finish waits here (``waiting_attempts``), and no retry waits
longer than a third of the lease. After an outage the scheduler's lifeline
waits one lease before judging leases again (jobs.plugins.scheduler), so a
finish retried at that pace lands before its run could be declared lost.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import Error, InterfaceError, OperationalError, close_old_connections, connection

from jobs.engine.attempts import Finish, attempts_finish

logger = logging.getLogger(__name__)

#: A group is written once this many runs wait, or FLUSH_DELAY after the first of them ended.
GROUP_MAX = 200
FLUSH_DELAY = 0.002
#: Longest wait between two tries of a finish (a third of the lease, if that is shorter).
RETRY_MAX = 5.0
#: How often a busy finisher lets Django check and recycle its database connection.
CONNECTION_CHECK_INTERVAL = 10.0


def finish_until_written(finishes: list[Finish], *, lease: float) -> list[Any]:
    """``attempts_finish``, tried again with backoff (at most a third of the lease apart) until PostgreSQL
    answers; returns the rows that moved. A run whose attempt was closed meanwhile moves none."""
    delay, longest = 0.1, min(RETRY_MAX, lease / 3)
    while True:
        try:
            return attempts_finish(finishes)
        except Error as exc:  # OperationalError while PostgreSQL is away, InterfaceError on a dead connection
            logger.warning("event=finish_write_failed runs=%d retry_in=%.1fs error=%r", len(finishes), delay, exc)
            connection.close()
            if isinstance(exc, (OperationalError, InterfaceError)):  # unreachable, not a refused statement
                _renew_pool_if_postgres_answers()
            time.sleep(delay)
            delay = min(delay * 2, longest)


def _renew_pool_if_postgres_answers() -> None:
    """After an outage psycopg_pool reconnects with a doubling backoff (a minute away lets the next try come
    half a minute after PostgreSQL is back): if a plain connection gets through, start a fresh pool now.
    Connections in use stay open until returned (psycopg_pool's ``close``)."""
    params = connection.get_connection_params()
    for key in ("pool", "cursor_factory", "context"):
        params.pop(key, None)
    try:
        psycopg.connect(**{**params, "connect_timeout": 1}).close()
    except psycopg.Error:
        return  # still away: the next try comes after the backoff
    connection.close_pool()


class Finisher(threading.Thread):
    def __init__(self, *, written: Callable[[list[Finish], list[Any]], None], lease: float) -> None:
        super().__init__(name="finisher", daemon=True)
        self._written = written
        self._lease = lease
        self._lock = threading.Condition()
        self._pending: list[Finish] = []
        self._group: list[Finish] = []  # being written
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

    def waiting_attempts(self) -> list[int]:
        """Attempts whose finish is not written yet: their leases must still be renewed."""
        with self._lock:
            return [finish.claim.attempt_id for finish in (*self._group, *self._pending)]

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
                self._group, self._writing = group, True
            try:
                self._write(group)
            finally:
                with self._lock:
                    self._group, self._writing = [], False
                    self._lock.notify_all()
        connection.close()

    def _write(self, group: list[Finish]) -> None:
        now = time.monotonic()
        if connection.errors_occurred or now - self._checked >= CONNECTION_CHECK_INTERVAL:
            close_old_connections()
            self._checked = now
        rows = finish_until_written(sorted(group, key=lambda finish: str(finish.claim.job_id)), lease=self._lease)
        try:
            self._written(group, rows)
        except Exception:
            logger.exception("event=finish_callback_failed")
