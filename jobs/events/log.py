"""The log sink: one ``key=value`` line per state change (progress ticks are not logged)."""
from __future__ import annotations

import logging

from jobs.events.emit import JobEvent

logger = logging.getLogger("jobs.events")

_LOGGED_FIELDS = ("type", "queue", "status", "attempts", "error", "correlation_id")


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
