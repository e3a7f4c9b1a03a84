"""The one lifecycle-event function (DESIGN.md principle 5).

Every transition and every ``ctx.progress`` call goes through ``emit`` after
its database write has committed. Each event gets the job's public shape (as
``GET /api/jobs/{id}`` returns it) and goes to each sink in turn: the Redis
event stream that feeds WebSockets and ``--wait`` (``monitoring.stream``), the
structured log, webhooks (``jobs.webhooks``); metrics plug in the same way.
Sinks are named by ``settings.JOB_EVENT_SINKS``.

Sinks run in the caller's thread, in order, and must be cheap: the stream
sink does not make the caller wait for Redis on state changes but sends them
in batches from a helper thread (see ``monitoring.stream``). ``flush`` pushes
out whatever a sink still holds (tests; exit).

Sinks are isolated: one that raises is logged and the others still run, and
the job's own outcome never depends on them. A sink may return stamped copies
of the events (the stream sink adds the per-job sequence numbers) which the
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


#: Takes a batch of events; may return the batch stamped (same length, same order).
Sink = Callable[[list[JobEvent]], "list[JobEvent] | None"]


def log_sink(events: list[JobEvent]) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    for event in events:
        if event.name != "job:progress":
            job = event.job
            extras = " ".join(f"{key}={job[key]}" for key in _LOGGED_FIELDS if job.get(key) is not None)
            # The stream numbers most state changes later, from its batching thread: log seq only when known.
            seq = "" if event.seq is None else f" seq={event.seq}"
            logger.info("event=%s job=%s%s %s", event.name, event.job_id, seq, extras)


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
    """Hand one event to every sink. Call it after the change has committed."""
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    deliver([(name, str(job_id), fields, datetime.now(timezone.utc))])


def flush() -> None:
    """Make every sink send what it holds back (the stream sink batches for a few milliseconds)."""
    for sink in sinks():
        flush_sink = getattr(sink, "flush", None)
        if flush_sink is not None:
            try:
                flush_sink()
            except Exception:
                logger.exception("event=sink_flush_failed sink=%r", sink)


def deliver(items: list[tuple[str, str, dict[str, Any], datetime]]) -> None:
    """Build events and run every sink on them, in order."""
    events = [_build(*item) for item in items]
    for sink in sinks():
        try:
            stamped = sink(events)
        except Exception:
            logger.exception("event=sink_failed sink=%r events=%s first_job=%s", sink,
                             ",".join(sorted({e.name for e in events})), events[0].job_id)
            continue
        if stamped is not None and len(stamped) == len(events):
            events = stamped


def _build(name: str, job_id: str, fields: dict[str, Any], at: datetime) -> JobEvent:
    try:
        job, webhook_url = _public_shape(name, job_id, fields)
    except Exception:  # a database blip must not lose the event of a transition that already happened
        logger.exception("event=shape_failed event=%s job=%s", name, job_id)
        job, webhook_url = {"id": job_id, **jsonable(_known(fields))}, str(fields.get("webhook_url") or "")
    return JobEvent(name=name, job_id=job_id, job=job, at=at, webhook_url=webhook_url)


# --- the public shape ---------------------------------------------------------------


_DATETIME_FIELDS = ("created_at", "started_at", "finished_at", "run_at")


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
        # The shape remembered from the job's job:active event serves its progress
        # ticks and its closing event, so a worker's events cost no query after the first.
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
