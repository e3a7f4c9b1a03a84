"""One run's log: the lines its handler logs, capped, numbered and held until written.

``ctx.logger`` records (at the levels the logger emits) and ``ctx.log`` lines
land here from the handler's thread, which never waits for PostgreSQL: lines
are written in batches by someone else. In a worker that is the progress
thread (jobs.execution.progress), every FLUSH_INTERVAL, for all its runs in
one statement; under plain ``rqworker`` a timer thread, LOG_WRITE_DELAY after
the first line that waits (``write_later``). After each write the lines go on
the event stream for the job page (jobs.events.stream.publish_log_lines). What
is still unwritten when the run ends goes with its finish
(jobs.engine.attempts.Finish.log), so an ended job's log is whole.

The cap (JOB_LOG_MAX_LINES lines, JOB_LOG_MAX_BYTES bytes of text per
attempt) keeps a prefix: once a line does not fit, it and every later line
are dropped and counted, and the run's end adds one WARNING line saying how
many. A handler that logs nothing costs no statement.
"""
from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from django.db import connection

from jobs.core.config import get_config
from jobs.core.log_lines import LogLine
from jobs.engine.attempt_logs import attempt_logs_append
from jobs.engine.attempts import Claim
from jobs.events.stream import publish_log_lines

logger = logging.getLogger(__name__)

#: Under plain rqworker, lines wait at most this long (seconds) for their write.
LOG_WRITE_DELAY = 0.25
#: Level names are stored cut to this (a custom level's name could be anything).
LEVEL_CHARS = 16

_formatter = logging.Formatter()


class RunLog:
    """The lines of one attempt not yet known to be written, and what the cap dropped.

    ``on_waiting`` is called (outside the lock) when a line arrives and no
    write is on its way for this log: the progress thread's ``put_log``, or
    ``write_later``. Lines stay here until a write confirms them (``written``),
    so a failed write is tried again and ``close`` hands the finish every line
    that may not have landed (a line stored twice is one row).
    """

    def __init__(self, claim: Claim, *, on_waiting: Callable[[RunLog], None]) -> None:
        config = get_config()
        self.attempt_id = claim.attempt_id
        self._job_id = str(claim.job_id)
        self._attempt = claim.attempt
        self._on_waiting = on_waiting
        self._max_lines = config.log_max_lines
        self._max_bytes = config.log_max_bytes
        self._lock = threading.Lock()
        self._lines: list[LogLine] = []
        self._kept = 0
        self._bytes = 0
        self._dropped = 0
        self._waiting = False
        self._closed = False

    def add(self, level: int, text: str) -> None:
        # Storable in PostgreSQL (no NUL, no lone surrogate), and measured as stored.
        data = text.replace("\x00", "\ufffd").encode("utf-8", "replace")
        with self._lock:
            if self._closed:
                return
            if self._dropped or self._kept >= self._max_lines or self._bytes + len(data) > self._max_bytes:
                self._dropped += 1
                return
            self._kept += 1
            self._bytes += len(data)
            self._lines.append(LogLine(self.attempt_id, self._job_id, self._attempt, self._kept, datetime.now(UTC),
                                       logging.getLevelName(level)[:LEVEL_CHARS], data.decode()))
            notify = not self._waiting
            self._waiting = True
        if notify:
            self._on_waiting(self)

    def unwritten(self) -> list[LogLine]:
        """The lines to write now (nothing once the run has ended: its finish took them)."""
        with self._lock:
            self._waiting = False
            return [] if self._closed else list(self._lines)

    def written(self, number: int) -> None:
        """Lines up to ``number`` are stored."""
        with self._lock:
            self._lines = [line for line in self._lines if line.number > number]

    def close(self) -> tuple[LogLine, ...]:
        """The run ended: every line that may not be stored yet, and the marker of those dropped."""
        with self._lock:
            if self._closed:
                return ()
            self._closed = True
            lines, self._lines = self._lines, []
            if self._dropped:
                lines.append(LogLine(
                    self.attempt_id, self._job_id, self._attempt, self._kept + 1, datetime.now(UTC), "WARNING",
                    f"… {self._dropped} more line{'s' if self._dropped != 1 else ''} dropped: an attempt keeps at "
                    f"most {self._max_lines} lines and {self._max_bytes} bytes of log "
                    f"(JOB_LOG_MAX_LINES, JOB_LOG_MAX_BYTES)"))
            return tuple(lines)


def line_text(msg: object, args: tuple[Any, ...], exc_info: object = None) -> str:
    """A log call's line as ``LogRecord.getMessage`` makes it, with the exception's traceback if it has one."""
    text = str(msg)
    if args:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            args = args[0]  # type: ignore[assignment]  # logging's ``log("%(n)s", {"n": 1})``
        try:
            text %= args
        except (TypeError, ValueError, KeyError):
            text = f"{text} {args!r}"
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
        if exc_info[0] is not None:  # type: ignore[index]
            text = f"{text}\n{_formatter.formatException(exc_info)}"  # type: ignore[arg-type]
    return text


def run_logs_write(run_logs: Sequence[RunLog]) -> None:
    """Store the runs' waiting lines with one statement, then put them on the event stream.

    Raises what PostgreSQL raised (the lines stay waiting); the stream is best
    effort: the page reads stored lines again at its next state change.
    """
    batches = [(run_log, run_log.unwritten()) for run_log in run_logs]
    lines = [line for _, batch in batches for line in batch]
    if not lines:
        return
    attempt_logs_append(lines)
    for run_log, batch in batches:
        if batch:
            run_log.written(batch[-1].number)
    try:
        publish_log_lines(lines)
    except redis.RedisError as exc:
        logger.warning("event=log_stream_failed lines=%d error=%r", len(lines), exc)


def write_later(run_log: RunLog) -> None:
    """How a run without a progress thread (plain rqworker) writes its lines: from a timer thread,
    LOG_WRITE_DELAY after the first line that waits, so the handler's thread never waits."""
    timer = threading.Timer(LOG_WRITE_DELAY, _write_now, (run_log,))
    timer.daemon = True
    timer.start()


def _write_now(run_log: RunLog) -> None:
    try:
        run_logs_write([run_log])
    except Exception as exc:  # the next line, or the run's finish, carries them
        logger.warning("event=log_write_failed attempt=%s error=%r", run_log.attempt_id, exc)
    finally:
        connection.close()
