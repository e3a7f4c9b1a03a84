"""The log sink: one line per state change (progress ticks are not logged), its fields also as the
record's attributes, so LOG_FORMAT=json prints them as fields (jobsite/logs.py). The payload is left
out unless LOG_PAYLOADS is on."""
from __future__ import annotations

import json
import logging
from datetime import datetime

from django.conf import settings

from jobs.events.emit import JobEvent
from jobs.events.stream import FINAL_EVENTS

logger = logging.getLogger("jobs.events")

_LOGGED_FIELDS = ("type", "queue", "status", "attempts", "error", "correlation_id")


def log_sink(events: list[JobEvent]) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    for event in events:
        if event.name != "job:progress":
            job = event.job
            extras = " ".join(f"{key}={job[key]}" for key in _LOGGED_FIELDS if job.get(key) is not None)
            fields = {"event": event.name, "job_id": event.job_id, "queue": job.get("queue"), "type": job.get("type"),
                      "status": job.get("status"), "attempt": job.get("attempts"),
                      "correlation_id": job.get("correlation_id") or None, "error": job.get("error") or None}
            if event.name in FINAL_EVENTS and job.get("started_at") and job.get("finished_at"):
                # From the first start to the end: the job's whole run, retries included.
                fields["duration"] = round((datetime.fromisoformat(job["finished_at"])
                                            - datetime.fromisoformat(job["started_at"])).total_seconds(), 4)
            if settings.LOG_PAYLOADS and event.name == "job:enqueued":
                fields["payload"] = job.get("payload")
                extras += f" payload={json.dumps(job.get('payload'))}"
            # The stream numbers most state changes later, from its batching thread: log seq only when known.
            seq = "" if event.seq is None else f" seq={event.seq}"
            logger.info("event=%s job=%s%s %s", event.name, event.job_id, seq, extras,
                        extra={k: v for k, v in fields.items() if v is not None})
