"""The webhook sink: each (event, receiver) becomes a ``notification.webhook`` job.

A sink of the event path (settings.JOB_EVENT_SINKS) that lives in the engine
because what it does is create jobs: one INSERT and one Redis round trip for
a batch of events, nothing at all when no receiver applies. Who receives an
event, and how a delivery is signed and sent, is jobs.events.webhooks.
Deliveries' own events never cause webhooks (no loops).
"""
from __future__ import annotations

from jobs.engine.enqueue import job_enqueue_many
from jobs.events.emit import JobEvent
from jobs.events.webhooks import WEBHOOK_JOB_TYPE, webhook_receivers


def webhook_sink(events: list[JobEvent]) -> None:
    """Enqueue a delivery per (event, receiver)."""
    deliveries = [
        {"type": WEBHOOK_JOB_TYPE, "payload": {"url": url, "event": event.message()},
         "correlation_id": event.job.get("correlation_id") or event.job_id,
         "source_detail": f"{event.name} of {event.job_id}"}
        for event in events
        for url in webhook_receivers(event)
    ]
    if deliveries:
        job_enqueue_many(deliveries)
