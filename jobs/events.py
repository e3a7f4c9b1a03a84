"""The one lifecycle-event function (DESIGN.md principle 5).

Every transition calls ``emit`` after its database write has committed. Sinks
are isolated: one that raises is logged and the others still run, and the
job's own outcome never depends on them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

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
    fields: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


Sink = Callable[[JobEvent], None]


def log_sink(event: JobEvent) -> None:
    if event.name == "job:progress" or not logger.isEnabledFor(logging.INFO):
        return
    extras = " ".join(f"{key}={value}" for key, value in event.fields.items() if key in _LOGGED_FIELDS)
    logger.info("event=%s job=%s %s", event.name, event.job_id, extras)


_LOGGED_FIELDS = ("type", "queue", "status", "attempts", "error", "correlation_id")
_sinks: list[Sink] = [log_sink]


def register_sink(sink: Sink) -> None:
    if sink not in _sinks:
        _sinks.append(sink)


def unregister_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def emit(name: str, job_id: object, **fields: Any) -> None:
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    event = JobEvent(name=name, job_id=str(job_id), fields=fields)
    for sink in list(_sinks):
        try:
            sink(event)
        except Exception:
            logger.exception("event=sink_failed sink=%r event=%s job=%s", sink, name, event.job_id)
