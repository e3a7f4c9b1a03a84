"""The public shape of a job, of an attempt and of an attempt's log: defined once, here.

``GET /api/jobs/{id}``, every lifecycle event (WebSocket message, webhook
body, the CLI's ``--wait``), the dashboard's live page and ``job_status
--json`` all carry exactly these fields; events cut payload and result to a
preview (``event_shape``). The pydantic models are the
OpenAPI schema; ``job_to_dict`` / ``attempt_to_dict`` build the same dicts
from rows without validation (the event path builds thousands a second).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from pydantic import BaseModel, ConfigDict, Field

from jobs.core.config import get_config
from jobs.core.states import JobStatus

_encoder = DjangoJSONEncoder()


class ProgressShape(BaseModel):
    percent: int
    stage: str
    message: str


class JobShape(BaseModel):
    """A job as the API, events and the CLI show it."""

    model_config = ConfigDict(title="Job")

    id: str
    type: str
    queue: str
    status: JobStatus
    priority: int
    progress: ProgressShape
    payload: Any
    result: Any
    error: str | None
    attempts: int
    max_attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_at: datetime | None
    correlation_id: str | None
    unique_key: str | None
    cancel_requested: bool = Field(..., description="Someone asked this running job to stop; it stops at its "
                                   "next progress report or cancel check")


class AttemptShape(BaseModel):
    """One run of a job."""

    model_config = ConfigDict(title="Attempt")

    number: int
    worker: str
    pid: int | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str = Field(..., description="Empty while the attempt runs")
    error_type: str
    error_message: str
    traceback: str
    duration: float | None = Field(..., description="Seconds")


class LogLineShape(BaseModel):
    """One line a handler logged (``ctx.logger`` or ``ctx.log``)."""

    model_config = ConfigDict(title="LogLine")

    number: int = Field(..., description="1, 2, … within the attempt")
    at: datetime
    level: str = Field(..., description="DEBUG, INFO, WARNING, ERROR or CRITICAL (ctx.log: INFO)")
    message: str


class AttemptLogShape(BaseModel):
    """One attempt's log: at most JOB_LOG_MAX_LINES lines and JOB_LOG_MAX_BYTES bytes, then one WARNING line
    saying how many more were dropped."""

    model_config = ConfigDict(title="AttemptLog")

    attempt: int = Field(..., description="The attempt's number, as in GET /api/jobs/{id}/attempts")
    started_at: datetime
    finished_at: datetime | None
    outcome: str = Field(..., description="Empty while the attempt runs")
    lines: list[LogLineShape]


#: The keys of a job's public dict, in order.
PUBLIC_FIELDS: tuple[str, ...] = tuple(JobShape.model_fields)
_DATETIME_FIELDS = ("created_at", "started_at", "finished_at", "run_at")


def job_to_dict(job: Any) -> dict[str, Any]:
    """The public shape of a QueueJob row (datetimes as datetimes; ``jsonable`` for JSON)."""
    return {
        "id": str(job.id),
        "type": job.type,
        "queue": job.queue,
        "status": job.status,
        "priority": job.priority,
        "progress": {"percent": job.progress_percent, "stage": job.progress_stage, "message": job.progress_message},
        "payload": job.payload,
        "result": job.result,
        "error": job.error or None,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "run_at": job.run_at,
        "correlation_id": job.correlation_id or None,
        "unique_key": job.unique_key,
        "cancel_requested": job.cancel_requested,
    }


def attempt_to_dict(attempt: Any) -> dict[str, Any]:
    """The public shape of a JobAttempt row."""
    return {name: getattr(attempt, name) for name in AttemptShape.model_fields}


def attempt_log_to_dict(attempt: Any) -> dict[str, Any]:
    """The public log of a JobAttempt row whose ``lines`` hold its JobLogLine rows (jobs.selectors.logs)."""
    return {"attempt": attempt.number, "started_at": attempt.started_at, "finished_at": attempt.finished_at,
            "outcome": attempt.outcome,
            "lines": [{"number": line.number, "at": line.at, "level": line.level, "message": line.message}
                      for line in attempt.lines]}


def jsonable(job: dict[str, Any]) -> dict[str, Any]:
    """A public job dict with JSON types only (datetimes as the API writes them)."""
    job = dict(job)
    for key in _DATETIME_FIELDS:
        value = job.get(key)
        if isinstance(value, datetime):
            job[key] = _encoder.default(value)
    for key in ("id", "status"):  # a UUID; a TextChoices member
        if key in job and type(job[key]) is not str:
            job[key] = str(job[key])
    return job


#: Fields an event carries as a preview when their JSON is longer than JOB_EVENT_PREVIEW_BYTES.
PREVIEW_FIELDS = ("payload", "result")


def event_shape(job: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready public dict as events carry it: a payload or result whose JSON is longer than
    JOB_EVENT_PREVIEW_BYTES becomes the start of that JSON (a string), named in ``truncated``.

    Every event is copied into the Redis stream, a webhook job's payload and
    each watching socket; carrying a 2.5 MB result whole would copy it a
    dozen times. The full row is one ``GET /api/jobs/{id}`` away.
    """
    limit = get_config().event_preview_bytes
    job = dict(job)
    truncated = []
    for key in PREVIEW_FIELDS:
        value = job.get(key)
        if value is None or value == {}:
            continue
        text = json.dumps(value, separators=(",", ":"), default=str).encode()
        if len(text) > limit:
            job[key] = text[:limit].decode(errors="ignore")
            truncated.append(key)
    job["truncated"] = truncated
    return job


def json_time(value: datetime) -> str:
    """A datetime as the API and events write it."""
    return _encoder.default(value)


def parse_job_id(value: str | uuid.UUID) -> uuid.UUID | None:
    """A job id from user input, or None when it is not a UUID."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
