"""The JSON API, served by django-ninja at /api/ (README, "HTTP API").

Views are thin: they check the request's shape (jobs.api.schemas), then call
the services and selectors in jobs/. Every error is JSON with a ``detail``
key; field-level problems are a list of ``{field, message, type}`` so the
admin form and the CLI can point at the field. Bad input of any kind is a
4xx, never a 500. OpenAPI: /api/openapi.json, browsable at /api/docs.
"""
from __future__ import annotations

import json
import math
from typing import Any

import pydantic
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import NinjaAPI, Query, Status
from ninja.errors import HttpError, ValidationError
from ninja.parser import Parser

from jobs.api.auth import Caller, api_auth
from jobs.api.throttle import CallerThrottle
from jobs.api.schemas import (
    BulkEnqueueIn,
    BulkEnqueueOut,
    EnqueueIn,
    EnqueueOut,
    FieldErrors,
    JobFilters,
    JobPage,
    JobStateOut,
    JobTypeOut,
    LogFilters,
    Message,
    QueueOut,
    QueueSwitchOut,
)
from jobs.core.access import allows, enqueue_refusals, may_enqueue
from jobs.core.errors import EnqueueRefused, InvalidTransition, JobTypeError
from jobs.core.permissions import ADD, CANCEL, PAUSE, RETRY, VIEW
from jobs.core.registry import all_job_types, get_job_type, time_warning
from jobs.core.shape import AttemptLogShape, AttemptShape, JobShape, attempt_log_to_dict, attempt_to_dict, job_to_dict
from jobs.engine.audit import audit_record
from jobs.engine.build import timeout_ceiling
from jobs.engine.enqueue import job_enqueue, job_enqueue_each
from jobs.engine.queues import queue_pause, queue_resume
from jobs.engine.transitions import job_cancel, job_requeue
from jobs.models import JobSource, QueueJob
from jobs.selectors.filters import FilterError
from jobs.selectors.jobs import job_attempts, job_get, job_list
from jobs.selectors.logs import job_logs
from jobs.selectors.paging import InvalidCursor, keyset_page
from jobs.selectors.queues import queue_stats


class StrictJSONParser(Parser):
    """JSON as RFC 8259 has it: no NaN/Infinity literals, no number that overflows a float.

    Python's json module accepts both, and neither can be stored in jsonb.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        return json.loads(request.body, parse_constant=_reject_constant, parse_float=_finite_float)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


api = NinjaAPI(
    title="Job queue API",
    version="1",
    description="Create, inspect and control background jobs. Authenticate with a browser session "
    "(CSRF token required for POST) or `Authorization: Bearer <token>`.",
    urls_namespace="api",
    parser=StrictJSONParser(),
    auth=api_auth(VIEW),
    throttle=CallerThrottle(),
)

JOB_NOT_FOUND = "job not found"
ERRORS = {400: Message, 401: Message, 403: Message}


# --- Errors -----------------------------------------------------------------------


def _errors(request: HttpRequest, errors: list[dict[str, Any]], status: int = 422) -> HttpResponse:
    return api.create_response(request, {"detail": errors}, status=status)


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's and ninja's errors ({loc, msg, type}) in the API's field-level shape ({field, message, type})."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[2:]  # drop "body" and the view's parameter name
        elif loc and loc[0] in ("query", "path", "header", "cookie"):
            loc = loc[1:]
        field, message = ".".join(loc) or "body", err.get("msg", "invalid")
        if field == "body":
            message = "the request body must be a JSON object"
        out.append({"field": field, "message": message, "type": err.get("type", "value_error")})
    return out


@api.exception_handler(ValidationError)
def _invalid_request(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _errors(request, field_errors(exc.errors))


@api.exception_handler(JobTypeError)
def _invalid_job(request: HttpRequest, exc: JobTypeError) -> HttpResponse:
    status = 403 if isinstance(exc, EnqueueRefused) else 422
    return _errors(request, exc.errors or [{"field": "body", "message": str(exc), "type": "value_error"}], status)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 400 and message.startswith("Cannot parse request body") and exc.__cause__ is not None:
        # ninja says only "Cannot parse request body"; say what was wrong with it.
        message = f"malformed JSON body: {exc.__cause__}"
    return api.create_response(request, {"detail": message}, status=exc.status_code)


@api.exception_handler(InvalidCursor)
def _invalid_cursor(request: HttpRequest, exc: InvalidCursor) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(InvalidTransition)
def _conflict(request: HttpRequest, exc: InvalidTransition) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(QueueJob.DoesNotExist)
def _job_vanished(request: HttpRequest, exc: QueueJob.DoesNotExist) -> HttpResponse:
    # A job deleted (retention pruning) between our lookup and the service's.
    return api.create_response(request, {"detail": JOB_NOT_FOUND}, status=404)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "request body too large"}, status=413)


def _job_or_404(job_id: str) -> QueueJob:
    job = job_get(job_id)
    if job is None:
        raise HttpError(404, JOB_NOT_FOUND)
    return job


# --- Jobs -------------------------------------------------------------------------


def _accepted(job: QueueJob, caller: Caller, *, created: bool) -> dict[str, Any]:
    """A new job is the caller's own; a duplicate (the live job holding the key) shows only its id to
    a caller who may not view jobs."""
    if not created and not allows(caller.actor, VIEW):
        return {"id": str(job.id)}
    return {"id": str(job.id), "status": job.status,
            "status_url": reverse("api:job_get", kwargs={"job_id": str(job.id)})}


def _enqueue_request(body: EnqueueIn, caller: Caller) -> dict[str, Any]:
    """Keyword arguments for ``job_enqueue`` (which validates and names payload fields ``payload.<name>``),
    once the caller is known to be allowed this type and priority (jobs/core/permissions.py)."""
    refusals = enqueue_refusals(caller.actor, get_job_type(body.type), body.priority)
    if refusals:
        raise EnqueueRefused(f"you may not enqueue {body.type} like this", refusals)
    request = body.model_dump(exclude_none=True)
    return {**request, "source": JobSource.API, "source_detail": caller.via, "created_by": caller.user}


@api.post("/jobs", auth=api_auth(ADD), url_name="job_create", tags=["jobs"],
          response={200: EnqueueOut, 202: EnqueueOut, 422: FieldErrors, **ERRORS, 403: FieldErrors | Message})
def job_create(request: HttpRequest, body: EnqueueIn) -> Status:
    """Create a job: 202 Accepted, it runs later; poll `status_url`.

    With a `unique_key` (or a type that is unique by payload) already held by
    a live job, nothing is created and the answer is 200 with that job, so a
    client may retry a POST safely.
    """
    caller: Caller = request.auth
    with transaction.atomic():
        result = job_enqueue(**_enqueue_request(body, caller))
        if result.created:
            audit_record(actor=caller.actor, action="enqueue", count=1, object_id=result.job.id,
                         detail=f"{result.job.type} on {result.job.queue}")
    answer = _accepted(result.job, caller, created=result.created)
    if result.created and (warning := time_warning(result.job.type, result.job.payload, result.job.timeout)):
        answer["warnings"] = [warning]
    return Status(202 if result.created else 200, answer)


@api.post("/jobs/bulk", auth=api_auth(ADD), url_name="job_create_bulk", tags=["jobs"],
          response={200: BulkEnqueueOut, 422: FieldErrors, **ERRORS})
def job_create_bulk(request: HttpRequest, body: BulkEnqueueIn) -> dict[str, Any]:
    """Create up to 1,000 jobs: each item is judged on its own (per item 202, 200 or 422, in order).

    The accepted ones are written with one INSERT and handed to Redis in one
    round trip; a refused item changes nothing for the others.
    """
    items: list[dict[str, Any] | None] = []
    requests: list[dict[str, Any]] = []
    for index, raw in enumerate(body.jobs):
        try:
            requests.append(_enqueue_request(EnqueueIn.model_validate(raw), request.auth))
            items.append(None)
        except pydantic.ValidationError as exc:
            errors = field_errors([{**e, "loc": ("body", "item", *e["loc"])} for e in exc.errors()])
            items.append({"index": index, "code": 422, "errors": errors})
        except JobTypeError as exc:  # an unknown type, or one the caller may not enqueue
            items.append({"index": index, "code": 403 if isinstance(exc, EnqueueRefused) else 422,
                          "errors": exc.errors})
    with transaction.atomic():
        outcomes = job_enqueue_each(requests)
        new = [o.job for o in outcomes if not isinstance(o, JobTypeError) and o.created]
        if new:
            audit_record(actor=request.auth.actor, action="enqueue", count=len(new),
                         detail=f"bulk of {len(body.jobs)}: {', '.join(sorted({job.type for job in new}))}")
    results = iter(outcomes)
    out = []
    for index, item in enumerate(items):
        if item is None:
            result = next(results)
            if isinstance(result, JobTypeError):
                item = {"index": index, "code": 422, "errors": result.errors or [
                    {"field": "body", "message": str(result), "type": "value_error"}]}
            else:
                item = {"index": index, "code": 202 if result.created else 200,
                        **_accepted(result.job, request.auth, created=result.created)}
        out.append(item)
    rejected = sum(1 for item in out if item["code"] >= 400)
    return {"items": out, "accepted": len(out) - rejected, "rejected": rejected}


@api.get("/jobs", url_name="job_list", tags=["jobs"], response={200: JobPage, 422: FieldErrors, **ERRORS})
def jobs_list(request: HttpRequest, filters: Query[JobFilters]) -> dict[str, Any] | HttpResponse:
    """Jobs matching every filter, newest first, one page at a time (follow `next_cursor`).

    `q` matches a job id, an id prefix (6+ hex digits), or text (3+ characters) in the payload or error.
    """
    try:
        jobs = job_list(status=filters.status, queue=filters.queue, type=filters.type, q=filters.q)
    except FilterError as exc:
        return _errors(request, [{"field": "q", "message": str(exc), "type": "value_error"}])
    page = keyset_page(jobs, limit=filters.limit, after=filters.cursor)
    return {"items": [job_to_dict(job) for job in page.rows], "next_cursor": page.next_cursor}


@api.get("/jobs/{job_id}", url_name="job_get", tags=["jobs"], response={200: JobShape, 404: Message, **ERRORS})
def job_detail(request: HttpRequest, job_id: str) -> dict[str, Any]:
    """One job: state, progress, result or error. Unknown and malformed ids are both 404."""
    return job_to_dict(_job_or_404(job_id))


@api.get("/jobs/{job_id}/attempts", url_name="job_attempts", tags=["jobs"],
         response={200: list[AttemptShape], 404: Message, **ERRORS})
def job_attempt_list(request: HttpRequest, job_id: str) -> list[Any]:
    """Every run of the job, oldest first, with its outcome and error."""
    return [attempt_to_dict(attempt) for attempt in job_attempts(_job_or_404(job_id))]


@api.get("/jobs/{job_id}/logs", url_name="job_logs", tags=["jobs"],
         response={200: list[AttemptLogShape], 404: Message, 422: FieldErrors, **ERRORS})
def job_log_list(request: HttpRequest, job_id: str, filters: Query[LogFilters]) -> list[Any]:
    """What the job's handler logged (`ctx.logger`, `ctx.log`), per attempt, oldest first.

    Each attempt keeps at most `JOB_LOG_MAX_LINES` lines and `JOB_LOG_MAX_BYTES` bytes; past that, its
    last line (a WARNING) says how many more were dropped. A running attempt has the lines written so far.
    """
    return [attempt_log_to_dict(attempt) for attempt in job_logs(_job_or_404(job_id), attempt=filters.attempt)]


def _acted(caller: Caller, action: str, job: QueueJob) -> Status:
    """Audit ``action`` on ``job`` and answer with what the caller may see of it (the job needs view access)."""
    audit_record(actor=caller.actor, action=action, count=1, object_id=job.id, detail=f"{job.type} on {job.queue}")
    if allows(caller.actor, VIEW):
        return Status(202, job_to_dict(job))
    return Status(202, {"id": str(job.id), "status": job.status})


@api.post("/jobs/{job_id}/cancel", auth=api_auth(CANCEL), url_name="job_cancel", tags=["jobs"],
          response={202: JobShape | JobStateOut, 404: Message, 409: Message, **ERRORS})
def job_cancel_view(request: HttpRequest, job_id: str) -> Status:
    """Cancel a waiting job; a running one is asked to stop (it stays active until it does).

    409 when the job has already finished. A caller without view access gets only `{id, status}`.
    """
    with transaction.atomic():
        return _acted(request.auth, "cancel", job_cancel(job_id=_job_or_404(job_id).id))


@api.post("/jobs/{job_id}/retry", auth=api_auth(RETRY), url_name="job_retry", tags=["jobs"],
          response={202: JobShape | JobStateOut, 404: Message, 409: Message, **ERRORS})
def job_retry_view(request: HttpRequest, job_id: str) -> Status:
    """Run a failed or cancelled job again: same id and history, a fresh set of attempts.

    409 for a job in any other state. A caller without view access gets only `{id, status}`.
    """
    with transaction.atomic():
        return _acted(request.auth, "retry", job_requeue(job_id=_job_or_404(job_id).id))


# --- Queues and job types ---------------------------------------------------------


def _queue(name: str) -> dict[str, Any]:
    for stats in queue_stats():
        if stats.name == name:
            return stats.public()
    raise HttpError(404, "queue not found")


def _queues() -> list[dict[str, Any]]:
    return [stats.public() for stats in queue_stats()]


@api.get("/queues", url_name="queue_list", tags=["queues"], response={200: list[QueueOut], **ERRORS})
def queues_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Every queue: jobs per state, pause switch, live workers, age of the oldest pending job."""
    return _queues()


def _switch(caller: Caller, name: str, *, paused: bool) -> dict[str, Any]:
    """Pause or resume, audited; the queue's counts only for a caller who may view them."""
    action = "pause" if paused else "resume"
    try:
        with transaction.atomic():
            (queue_pause if paused else queue_resume)(name=name)
            audit_record(actor=caller.actor, action=action, count=0, target=f"queue {name}")
    except JobTypeError:
        raise HttpError(404, "queue not found") from None
    return _queue(name) if allows(caller.actor, VIEW) else {"name": name, "paused": paused}


@api.post("/queues/{name}/pause", auth=api_auth(PAUSE), url_name="queue_pause", tags=["queues"],
          response={200: QueueOut | QueueSwitchOut, 404: Message, **ERRORS})
def queue_pause_view(request: HttpRequest, name: str) -> dict[str, Any]:
    """Stop handing the queue's jobs to workers; running jobs finish, new ones wait as pending.

    A caller without view access gets only `{name, paused}`.
    """
    return _switch(request.auth, name, paused=True)


@api.post("/queues/{name}/resume", auth=api_auth(PAUSE), url_name="queue_resume", tags=["queues"],
          response={200: QueueOut | QueueSwitchOut, 404: Message, **ERRORS})
def queue_resume_view(request: HttpRequest, name: str) -> dict[str, Any]:
    """Hand the queue's jobs to workers again, including those that waited while it was paused.

    A caller without view access gets only `{name, paused}`.
    """
    return _switch(request.auth, name, paused=False)


@api.get("/job-types", url_name="job_type_list", tags=["job types"], response={200: list[JobTypeOut], **ERRORS})
def job_types_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Registered job types with their payload's JSON Schema (drives the admin form and the CLI)."""
    return [
        {"name": jt.name, "queue": jt.queue, "description": jt.description, "access": jt.enqueue_access(),
         "can_enqueue": may_enqueue(request.auth.actor, jt), "timeout": jt.default_timeout(),
         "max_timeout": timeout_ceiling(jt),
         "payload_schema": jt.payload_model.model_json_schema()}
        for jt in all_job_types()
    ]
