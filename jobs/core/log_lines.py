"""One line of an attempt's log: as the worker keeps it, the engine stores it and the stream carries it.

A handler's ``ctx.logger`` records and ``ctx.log`` lines become these
(jobs.execution.run_log caps and numbers them), are stored in batches
(jobs.engine.attempt_logs), streamed to the job page while the job runs
(jobs.events.stream.publish_log_lines) and read back by ``GET
/api/jobs/{id}/logs`` in the public shape of jobs.core.shape.LogLineShape.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.core.shape import json_time


@dataclass(frozen=True, slots=True)
class LogLine:
    attempt_id: int
    job_id: str
    #: The attempt's number within its job (1, 2, …), as the API and the job page name it.
    attempt: int
    #: 1, 2, … within the attempt: the order, and what makes a line written twice (a retried batch) one row.
    number: int
    at: datetime
    level: str
    message: str

    def public(self) -> dict[str, Any]:
        """The line as the API and the job page's socket show it (jobs.core.shape.LogLineShape)."""
        return {"number": self.number, "at": json_time(self.at), "level": self.level, "message": self.message}
