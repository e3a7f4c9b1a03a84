"""The one lifecycle-event function (DESIGN.md principle 5).

Every transition and every ``ctx.progress`` call goes through ``emit`` after
its database write has committed. ``emit`` builds the event once (the job's
public shape, as ``GET /api/jobs/{id}`` returns it) and hands it to each sink
in turn: the Redis event stream that feeds WebSockets and ``--wait``
(``monitoring.stream``), the structured log, webhooks (``jobs.webhooks``);
metrics plug in the same way. Sinks are named by ``settings.JOB_EVENT_SINKS``.

Sinks are isolated: one that raises is logged and the others still run, and
the job's own outcome never depends on them. A sink may return a stamped copy
of the event (the stream sink adds the per-job sequence number) which the
sinks after it receive, so a webhook carries the same ``seq`` as the WebSocket.

Building the public shape costs no query when the caller passes every public
field (see ``EVENT_FIELDS``). Progress events reuse the shape of the job's
last event in this process, so a handler's progress ticks never query either.
Anything else missing is read from the row once (a fallback for callers that
pass only a few fields).
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

EVENTS = (
    "job:enqueued",
    "job:active",
    "job:progress",
    "job:retrying",
    "job:completed",
    "job:failed",
    "job:cancelled",
)
#: Events after which a job's events stop (until someone requeues it).
FINAL_EVENTS = frozenset({"job:completed", "job:failed", "job:cancelled"})
#: The keys of the public shape (``jobs.selectors.job_to_dict``), in its order.
PUBLIC_FIELDS = (
    "id", "type", "queue", "status", "priority", "progress", "payload", "result", "error", "attempts",
    "max_attempts", "created_at", "started_at", "finished_at", "run_at", "correlation_id", "unique_key",
)
#: What a caller of ``emit`` passes so that no query is needed: the public
#: fields (``progress`` as a dict) plus the job's private ``webhook_url``.
EVENT_FIELDS = (*PUBLIC_FIELDS[1:], "webhook_url")
#: Progress events of this many recent jobs per process are built without a query.
RECENT_JOBS = 512

_encoder = DjangoJSONEncoder()


@dataclass(frozen=True)
class JobEvent:
    name: str
    job_id: str
    #: The job's public fields, JSON-ready (the shape of GET /api/jobs/{id}).
    job: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: Per-job sequence number, stamped by the stream sink; None if it could not publish.
    seq: int | None = None
    #: The job's own webhook receiver; private, never part of what is published.
    webhook_url: str = ""

    def message(self) -> dict[str, Any]:
        """What subscribers receive: the WebSocket message and the webhook body."""
        return {"type": "job.event", "event": self.name, "job": self.job, "seq": self.seq,
                "at": _encoder.default(self.at)}


Sink = Callable[[JobEvent], "JobEvent | None"]


def log_sink(event: JobEvent) -> None:
    if event.name == "job:progress" or not logger.isEnabledFor(logging.INFO):
        return
    job = event.job
    extras = " ".join(f"{key}={job[key]}" for key in _LOGGED_FIELDS if job.get(key) is not None)
    logger.info("event=%s job=%s seq=%s %s", event.name, event.job_id, event.seq, extras)


_LOGGED_FIELDS = ("type", "queue", "status", "attempts", "error", "correlation_id")
_extra_sinks: list[Sink] = []


@lru_cache(maxsize=1)
def _configured_sinks() -> tuple[Sink, ...]:
    return tuple(import_string(path) for path in settings.JOB_EVENT_SINKS)


@receiver(setting_changed)
def _reset_sinks(*, setting: str, **kwargs: object) -> None:
    if setting == "JOB_EVENT_SINKS":
        _configured_sinks.cache_clear()


def sinks() -> list[Sink]:
    return [*_configured_sinks(), *_extra_sinks]


def register_sink(sink: Sink) -> None:
    """Add a sink beside the configured ones (tests: a recording or a failing sink)."""
    if sink not in _extra_sinks:
        _extra_sinks.append(sink)


def unregister_sink(sink: Sink) -> None:
    if sink in _extra_sinks:
        _extra_sinks.remove(sink)


def emit(name: str, job_id: object, **fields: Any) -> None:
    """Publish one event to every sink. Call it after the change has committed."""
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    key = str(job_id)
    try:
        job, webhook_url = _public_shape(name, key, fields)
    except Exception:  # a database blip must not fail the transition that already happened
        logger.exception("event=shape_failed event=%s job=%s", name, key)
        job, webhook_url = {"id": key, **jsonable(_known(fields))}, str(fields.get("webhook_url") or "")
    event = JobEvent(name=name, job_id=key, job=job, webhook_url=webhook_url)
    for sink in sinks():
        try:
            stamped = sink(event)
        except Exception:
            logger.exception("event=sink_failed sink=%r event=%s job=%s", sink, name, key)
            continue
        if isinstance(stamped, JobEvent):
            event = stamped


# --- the public shape ---------------------------------------------------------------


def jsonable(job: dict[str, Any]) -> dict[str, Any]:
    """The values of a public job dict as JSON types (datetimes as the API writes them)."""
    return {key: _json_value(value) for key, value in job.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _encoder.default(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return str(value)  # TextChoices members become plain strings
    return value


def _known(fields: dict[str, Any]) -> dict[str, Any]:
    known = {key: fields[key] for key in PUBLIC_FIELDS if key in fields}
    if "error" in known:
        known["error"] = known["error"] or None
    if "correlation_id" in known:
        known["correlation_id"] = known["correlation_id"] or None
    return known


_recent: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()
_recent_lock = threading.Lock()


def _public_shape(name: str, job_id: str, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    known = jsonable(_known(fields))
    webhook_url = fields.get("webhook_url")
    base: dict[str, Any] | None = None
    if len(known) < len(PUBLIC_FIELDS) - 1 or webhook_url is None:
        if name == "job:progress":
            with _recent_lock:
                cached = _recent.get(job_id)
            if cached is not None:
                base, cached_url = cached
                webhook_url = cached_url if webhook_url is None else webhook_url
        if base is None:
            base, stored_url = _load(job_id)
            webhook_url = stored_url if webhook_url is None else webhook_url
    job = {"id": job_id, **(base or {}), **known}
    webhook_url = str(webhook_url or "")
    with _recent_lock:
        if name in ("job:active", "job:progress"):
            _recent[job_id] = (job, webhook_url)
            _recent.move_to_end(job_id)
            while len(_recent) > RECENT_JOBS:
                _recent.popitem(last=False)
        else:
            _recent.pop(job_id, None)
    return job, webhook_url


def _load(job_id: str) -> tuple[dict[str, Any], str]:
    """The row's public fields and webhook URL (the fallback when a caller passed too little)."""
    from jobs.models import QueueJob
    from jobs.selectors import job_to_dict

    job = QueueJob.objects.filter(pk=job_id).first()
    if job is None:
        return {}, ""
    return jsonable(job_to_dict(job)), job.webhook_url


def event_fields_of(job: Any) -> dict[str, Any]:
    """``emit`` keyword arguments for a QueueJob instance: everything, so no query is needed."""
    from jobs.selectors import job_to_dict

    shape = job_to_dict(job)
    del shape["id"]
    return {**shape, "webhook_url": job.webhook_url}


def forget(job_id: object) -> None:
    """Drop what this process remembers of a job (tests)."""
    with _recent_lock:
        _recent.pop(str(job_id), None)
