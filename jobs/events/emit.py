"""The one lifecycle-event path: every transition and progress tick ends in ``emit``.

An event carries the job's public shape (jobs.core.shape, as ``GET
/api/jobs/{id}`` returns it, payload and result cut to a preview:
``event_shape``), built from the row the transition's ``UPDATE … RETURNING``
gave back, so emitting never reads the database. ``emit`` hands
the events to each sink in turn (``settings.JOB_EVENT_SINKS``): the Redis
event stream that feeds WebSockets and ``--wait`` (jobs.events.stream), the
structured log (jobs.events.log). Webhook deliveries are not a sink: they are
written in the state change's own transaction (jobs.engine.publish). Sinks
are named by dotted path, so this module imports none of them and nothing
here depends on what they do.

Sinks run in the caller's thread, in order, and must be cheap (the stream
sink batches for a few milliseconds on a helper thread). They are isolated:
one that raises is logged and the others still run, and the job's own
outcome never depends on them. A sink may return stamped copies of the events
(the stream sink adds the per-job sequence numbers) which the sinks after it
receive.
See docs/architecture.md, "The path of a job".
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from jobs.core.shape import event_shape, job_to_dict, json_time, jsonable

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


@dataclass(frozen=True)
class JobEvent:
    name: str
    job_id: str
    #: The job's public fields, JSON-ready (the shape of GET /api/jobs/{id}, payload and result previewed).
    job: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: Per-job sequence number, stamped by the stream sink; None if it could not publish.
    seq: int | None = None
    #: The job's own webhook receiver; private, never part of what is published.
    webhook_url: str = ""

    def __post_init__(self) -> None:
        if self.name not in EVENTS:
            raise ValueError(f"unknown event {self.name!r}")

    def message(self) -> dict[str, Any]:
        """What subscribers receive: the WebSocket message (a webhook's body is it without ``seq``)."""
        return {"type": "job.event", "event": self.name, "job": self.job, "seq": self.seq, "at": json_time(self.at)}


def job_event(name: str, job: Any, **changes: Any) -> JobEvent:
    """The event ``name`` of a QueueJob row, ``changes`` applied to its public fields."""
    shape = event_shape(jsonable({**job_to_dict(job), **changes}))
    return JobEvent(name=name, job_id=shape["id"], job=shape, webhook_url=job.webhook_url or "")


#: Takes a batch of events; may return the batch stamped (same length, same order).
Sink = Callable[[list[JobEvent]], "list[JobEvent] | None"]
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


def emit(events: list[JobEvent]) -> None:
    """Run every sink on the events, in order. Call it after the change has committed."""
    if not events:
        return
    for sink in sinks():
        try:
            stamped = sink(events)
        except Exception:
            logger.exception("event=sink_failed sink=%r events=%s first_job=%s", sink,
                             ",".join(sorted({e.name for e in events})), events[0].job_id)
            continue
        if stamped is not None and len(stamped) == len(events):
            events = stamped


def flush() -> None:
    """Make every sink send what it holds back (the stream sink batches for a few milliseconds)."""
    for sink in sinks():
        flush_sink = getattr(sink, "flush", None)
        if flush_sink is not None:
            try:
                flush_sink()
            except Exception:
                logger.exception("event=sink_flush_failed sink=%r", sink)
