"""Request and response shapes of the JSON API (DESIGN.md, "HTTP API").

The shapes double as the OpenAPI schema at /api/openapi.json. Input types are
strict where the database would otherwise be the first to object: a NUL
character or a lone surrogate in a string, a non-finite or astronomically
large number or a date outside the calendar would reach PostgreSQL and come
back as a 500, so they are rejected here with the field named instead.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from jobs.conf import get_config
from jobs.enqueue import MAX_ATTEMPTS, MAX_TIMEOUT
from jobs.states import JobStatus

#: An enqueue delay beyond this is almost certainly a unit mistake (ms for s),
#: and it keeps ``now + delay`` far inside the datetime range.
MAX_DELAY_SECONDS = 10 * 365 * 86400
MAX_PAGE_SIZE = 200


def text_problem(value: str) -> str | None:
    """Why PostgreSQL would refuse this string, or None when it is storable."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def text_errors(value: Any, field: str) -> list[dict[str, str]]:
    """Field errors for every unstorable string (keys included) inside a JSON value."""
    errors: list[dict[str, str]] = []
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            errors.append({"field": field, "message": problem, "type": "invalid_text"})
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                errors.append({"field": field, "message": f"key {key!r} {problem}", "type": "invalid_text"})
            else:
                errors.extend(text_errors(item, f"{field}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(text_errors(item, f"{field}.{index}"))
    return errors


def _storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("invalid_text", problem)
    return value


def _utc(value: datetime) -> datetime:
    """Normalise to UTC now, so an offset that pushes a date past year 1-9999 fails here, not on read."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("datetime_range", "is outside the supported date range") from None


Text = Annotated[str, AfterValidator(_storable_text)]
ZonedDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


# --- Errors ---------------------------------------------------------------------


class Message(Schema):
    detail: str


class FieldError(Schema):
    field: str = Field(..., description="Request field, payload fields as 'payload.<name>'")
    message: str
    type: str


class FieldErrors(Schema):
    detail: list[FieldError]


# --- Jobs -----------------------------------------------------------------------


class EnqueueIn(Schema):
    """POST /api/jobs. Unknown fields are refused so that a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    type: Text = Field(..., max_length=100, description="Job type name; see GET /api/job-types")
    payload: dict[str, Any] | None = Field(None, description="Validated against the type's payload schema")
    queue: Text | None = Field(None, max_length=50, description="Defaults to the type's queue")
    priority: int | None = Field(None, ge=0, le=9, strict=True, description="0 runs first, 9 last")
    delay: float | None = Field(None, ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False, strict=True,
                                description="Seconds to wait before the first run")
    run_at: ZonedDatetime | None = Field(None, description="ISO 8601 time with a zone; not with delay")
    unique_key: Text | None = Field(None, min_length=1, max_length=200,
                                    description="At most one live job per key")
    max_attempts: int | None = Field(None, ge=1, le=MAX_ATTEMPTS, strict=True)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, allow_inf_nan=False, strict=True,
                                  description="Handler time limit in seconds")
    correlation_id: Text | None = Field(None, max_length=100)


class EnqueueOut(Schema):
    id: str
    status: JobStatus
    status_url: str = Field(..., description="Absolute path of GET /api/jobs/{id}")


class Progress(Schema):
    percent: int
    stage: str
    message: str


class JobOut(Schema):
    """The shape of ``jobs.selectors.job_to_dict``."""

    id: str
    type: str
    queue: str
    status: JobStatus
    priority: int
    progress: Progress
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


class JobPage(Schema):
    items: list[JobOut]
    next_cursor: str | None = Field(..., description="Pass as ?cursor= for the next page; null on the last")


class JobFilters(Schema):
    """Query string of GET /api/jobs; every filter given must match."""

    status: JobStatus | None = None
    queue: Text | None = Field(None, max_length=50)
    type: Text | None = Field(None, max_length=100)
    q: Text | None = Field(None, max_length=200, description="Job id, or text in the payload or error")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")

    @field_validator("queue")
    @classmethod
    def _known_queue(cls, value: str | None) -> str | None:
        queues = get_config().queues
        if value and value not in queues:
            raise PydanticCustomError("unknown_queue", "unknown queue; known: {known}",
                                      {"known": ", ".join(queues)})
        return value


class AttemptOut(Schema):
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


# --- Queues and job types -------------------------------------------------------


class QueueOut(Schema):
    name: str
    counts: dict[str, int] = Field(..., description="Jobs per state")
    paused: bool
    workers: int = Field(..., description="Live workers listening on the queue")
    oldest_pending_age: float | None = Field(..., description="Seconds the oldest pending job has waited")
    concurrency: int


class JobTypeOut(Schema):
    name: str
    queue: str
    description: str
    payload_schema: dict[str, Any] = Field(..., description="JSON Schema of the payload")
