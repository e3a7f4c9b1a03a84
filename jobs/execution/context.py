"""What a handler gets: typed payload, progress reporting, a logger and its attempt's log, cancellation."""
from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import pydantic

from jobs.core.errors import JobCancelled
from jobs.core.log_lines import LogLine
from jobs.engine.attempts import Claim, job_cancel_requested, job_progress
from jobs.events.emit import JobEvent, emit
from jobs.execution.run_log import RunLog, line_text, write_later

if TYPE_CHECKING:
    from jobs.execution.progress import ProgressWriter

#: Progress rows are written at most this often per job (stage changes and
#: 100 % always go through), so a chatty handler does not hammer PostgreSQL.
PROGRESS_WRITE_INTERVAL = 0.25
#: How stale a cancel_requested read may be.
CANCEL_CHECK_INTERVAL = 0.5


class JobLogger(logging.LoggerAdapter):
    """A handler's logger: its lines name the job (and its correlation id), as the engine's own do.

    Each record the logger emits is also kept on the run's attempt (``run_log``, jobs.execution.run_log),
    without the job prefix: the job page and ``GET /api/jobs/{id}/logs`` show them under the attempt.
    """

    run_log: RunLog | None = None

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = self.extra or {}
        correlation = f" correlation_id={extra['correlation_id']}" if extra.get("correlation_id") else ""
        return f"job={extra.get('job_id')}{correlation} {msg}", {**kwargs, "extra": {**extra, **kwargs.get("extra", {})}}

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.run_log is not None and self.isEnabledFor(level):
            self.run_log.add(level, line_text(msg, args, kwargs.get("exc_info")))
        # One frame more than LoggerAdapter.log expects: the record still names the handler's line.
        super().log(level, msg, *args, **{**kwargs, "stacklevel": kwargs.get("stacklevel", 1) + 1})


class JobContext:
    """Handed to every handler: the typed payload, ``progress()``, ``logger``, ``log()``, ``cancel_requested``."""

    def __init__(self, claim: Claim, *, payload: pydantic.BaseModel, writer: ProgressWriter | None = None) -> None:
        self.job_id = claim.job_id
        self.job_type = claim.type
        self.queue = claim.queue
        self.attempt = claim.attempt
        self.payload = payload
        self.correlation_id = claim.correlation_id
        self._claim = claim
        #: In a worker's slots, progress goes to its writer thread (jobs.execution.progress); under plain
        #: rqworker it is written here.
        self._writer = writer
        #: The attempt's log: written by the worker's progress thread, else (rqworker) by a timer thread.
        self._log = RunLog(claim, on_waiting=writer.put_log if writer is not None else write_later)
        self.logger = JobLogger(logging.getLogger(f"jobs.handler.{claim.type}"),
                                {"job_id": str(claim.job_id), "correlation_id": claim.correlation_id})
        self.logger.run_log = self._log
        self.percent = 0
        self.stage = ""
        self.message = ""
        self._written = (0, "", "")
        self._last_write = 0.0
        self._cancel_requested = False
        self._cancel_checked = time.monotonic()

    def progress(self, percent: float, *, stage: str | None = None, message: str | None = None) -> None:
        """Report progress (0-100, never going back within an attempt).

        Raises JobCancelled when someone cancelled the job, so handlers that
        report progress stop promptly without checking anything themselves.
        """
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not math.isfinite(percent):
            raise ValueError(f"progress percent must be a number, got {percent!r}")
        if not 0 <= percent <= 100:
            raise ValueError(f"progress percent must be between 0 and 100, got {percent}")
        value = int(percent)
        if value < self.percent:
            raise ValueError(f"progress cannot go back (from {self.percent} to {value}) within an attempt")
        stage_changed = stage is not None and stage != self.stage
        self.percent = value
        self.stage = stage if stage is not None else self.stage
        self.message = message if message is not None else self.message
        now = time.monotonic()
        if stage_changed or value == 100 or now - self._last_write >= PROGRESS_WRITE_INTERVAL:
            self.flush()
        # Every call is an event; the stream sink thins fast ticks for WebSockets (jobs.events.stream).
        progress = {"percent": self.percent, "stage": self.stage, "message": self.message}
        emit([JobEvent("job:progress", str(self.job_id), {**self._claim.shape, "progress": progress},
                       webhook_url=self._claim.webhook_url)])
        if self.cancel_requested:
            raise JobCancelled()

    def flush(self) -> None:
        """Hand over (or write) the latest progress if it differs from what was last written."""
        state = (self.percent, self.stage, self.message)
        if state == self._written:
            return
        self._written = state
        self._last_write = time.monotonic()
        if self._writer is not None:
            self._writer.put(self._claim, *state)
            return
        self._cancel_requested = bool(job_progress(self._claim, percent=state[0], stage=state[1], message=state[2]))
        self._cancel_checked = self._last_write

    def log(self, line: object) -> None:
        """Add a line to this attempt's log (the job page, ``GET /api/jobs/{id}/logs``), as BullMQ's
        ``job.log()``; unlike ``ctx.logger`` it does not go to the worker's own log."""
        self._log.add(logging.INFO, str(line))

    def close_log(self) -> tuple[LogLine, ...]:
        """The run ended: its lines not written yet (and the marker of those dropped), for its finish."""
        return self._log.close()

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked this job to stop; long handlers should check it between steps."""
        if self._cancel_requested:
            return True
        if self._writer is not None:
            self._cancel_requested = self._writer.cancel_requested(self.job_id)
        elif time.monotonic() - self._cancel_checked >= CANCEL_CHECK_INTERVAL:
            self._cancel_checked = time.monotonic()
            self._cancel_requested = job_cancel_requested(self.job_id)
        return self._cancel_requested

    @property
    def last_progress(self) -> tuple[int, str, str]:
        """(percent, stage, message) as last reported: written with the run's finish."""
        return self.percent, self.stage, self.message

    def __repr__(self) -> str:
        return f"<JobContext {self.job_type} {self.job_id} attempt {self.attempt}>"


def result_to_json(value: Any) -> Any:
    """Results are stored as JSON; pydantic models and plain data both work."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    return pydantic.TypeAdapter(Any).dump_python(value, mode="json")
