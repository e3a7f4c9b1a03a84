"""Request and response shapes of the JSON API (docs/architecture.md, "HTTP API").

The shapes double as the OpenAPI schema at /api/openapi.json; a job and an
attempt are the public shapes of jobs.core.shape. Input types are
strict where the database would otherwise be the first to object: a NUL
character or a lone surrogate in a string, a non-finite or astronomically
large number or a date outside the calendar would reach PostgreSQL and come
back as a 500, so they are rejected here with the field named instead.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from jobs.core.config import get_config
from jobs.core.shape import JobShape
from jobs.core.states import JobStatus
from jobs.core.validation import text_problem
from jobs.engine.build import MAX_ATTEMPTS, MAX_TIMEOUT
from jobs.engine.build import MAX_DELAY as MAX_DELAY_SECONDS

MAX_PAGE_SIZE = 200


def _storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("invalid_text", problem)
    return value


def _utc(value: datetime) -> datetime:
    """Normalise to UTC here: a date an offset pushes outside years 1-9999 fails now, not when the
    row is read back, and PostgreSQL refuses offsets beyond ±15:59 that Python accepts."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("datetime_range", "is outside the supported date range") from None


def _iso_string(value: Any) -> Any:
    # pydantic would also take a number as a Unix time (or, if large, milliseconds): too easy to get wrong.
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "must be an ISO 8601 string with a time zone")
    return value


_STORABLE = AfterValidator(_storable_text)
JobTypeName = Annotated[str, StringConstraints(max_length=100), _STORABLE]
QueueName = Annotated[str, StringConstraints(max_length=50), _STORABLE]
UniqueKey = Annotated[str, StringConstraints(min_length=1, max_length=200), _STORABLE]
CorrelationId = Annotated[str, StringConstraints(max_length=100), _STORABLE]
SearchText = Annotated[str, StringConstraints(max_length=200), _STORABLE]
ZonedDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_string), AfterValidator(_utc)]


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

    type: JobTypeName = Field(..., description="Job type name; see GET /api/job-types")
    payload: dict[str, Any] | None = Field(None, description="Validated against the type's payload schema")
    queue: QueueName | None = Field(None, description="Defaults to the type's queue")
    priority: int | None = Field(None, ge=0, le=9, strict=True, description="0 runs first, 9 last")
    delay: float | None = Field(None, ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False, strict=True,
                                description="Seconds to wait before the first run")
    run_at: ZonedDatetime | None = Field(None, description="ISO 8601 time with a zone; not with delay")
    unique_key: UniqueKey | None = Field(None, description="At most one live job per key")
    max_attempts: int | None = Field(None, ge=1, le=MAX_ATTEMPTS, strict=True)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, allow_inf_nan=False, strict=True,
                                  description="Handler time limit in seconds")
    correlation_id: CorrelationId | None = None
    webhook_url: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="http(s) URL that receives this job's lifecycle events, signed (X-Signature over "
                          "X-Webhook-Timestamp and the body); a public address unless WEBHOOK_ALLOWED_HOSTS lists it; "
                          "refused when the server has no WEBHOOK_SECRET")


class EnqueueOut(Schema):
    id: str
    status: JobStatus | None = Field(None, description="Left out of a duplicate's answer unless the caller "
                                     "may view jobs: the live job may be someone else's")
    status_url: str | None = Field(None, description="Absolute path of GET /api/jobs/{id}")
    warnings: list[str] = Field(default_factory=list, description="What the job's type knows will go wrong, "
                                "e.g. a time limit shorter than the payload needs")


MAX_BULK = 1000


class JobStateOut(Schema):
    """What cancel and retry answer a caller who may act but not view jobs: the outcome, not the job."""

    id: str
    status: JobStatus


class BulkEnqueueIn(Schema):
    """POST /api/jobs/bulk: each item is a POST /api/jobs body, validated on its own."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BULK)


class BulkItemOut(Schema):
    index: int = Field(..., description="Position of the item in the request")
    code: int = Field(..., description="202 created, 200 a live job already held its unique key, "
                      "422 invalid, 403 a type or priority the caller may not enqueue")
    id: str | None = None
    status: JobStatus | None = None
    status_url: str | None = None
    errors: list[FieldError] | None = Field(None, description="Why the item was refused (422)")


class BulkEnqueueOut(Schema):
    items: list[BulkItemOut]
    accepted: int = Field(..., description="Items answered 202 or 200")
    rejected: int = Field(..., description="Items answered 422 or 403")


class JobPage(Schema):
    items: list[JobShape]
    next_cursor: str | None = Field(..., description="Pass as ?cursor= for the next page; null on the last")


class JobFilters(Schema):
    """Query string of GET /api/jobs; every filter given must match."""

    status: JobStatus | None = None
    queue: QueueName | None = None
    type: JobTypeName | None = None
    q: SearchText | None = Field(None, description="Job id, or text in the payload or error")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, description="next_cursor of the previous page")

    @field_validator("queue")
    @classmethod
    def _known_queue(cls, value: str | None) -> str | None:
        queues = get_config().queues
        if value and value not in queues:
            raise PydanticCustomError("unknown_queue", "unknown queue; known: {known}",
                                      {"known": ", ".join(queues)})
        return value


class LogFilters(Schema):
    """Query string of GET /api/jobs/{id}/logs."""

    attempt: int | None = Field(None, ge=1, le=2**31 - 1, description="Only this attempt's log (1 is the first run)")


# --- Queues and job types -------------------------------------------------------


class QueueOut(Schema):
    name: str
    counts: dict[str, int] = Field(..., description="Jobs per state")
    paused: bool
    workers: int = Field(..., description="Live workers listening on the queue")
    oldest_pending_age: float | None = Field(..., description="Seconds the oldest pending job has waited")
    concurrency: int


class QueueSwitchOut(Schema):
    """What pause and resume answer a caller who may switch queues but not view them."""

    name: str
    paused: bool


class JobTypeOut(Schema):
    name: str
    queue: str
    description: str
    access: Literal["public", "restricted", "internal"] = Field(
        ..., description="public: add_queuejob suffices; restricted and internal: jobs.enqueue_<type> as well")
    can_enqueue: bool = Field(..., description="Whether the caller may enqueue it")
    timeout: float = Field(..., description="Default time limit, seconds")
    max_timeout: float = Field(..., description="The longest `timeout` a caller may ask for")
    payload_schema: dict[str, Any] = Field(..., description="JSON Schema of the payload")
