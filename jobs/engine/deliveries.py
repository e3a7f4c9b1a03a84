"""The webhook outbox: each (event, receiver) of a state change becomes a ``notification.webhook`` job.

The delivery rows are built here and written by jobs.engine.publish in the
transaction of the state change that causes them, so a committed change always
has its deliveries and a rolled-back one none, whatever happens after the
commit. Who receives an event, and how a delivery is signed and sent, is
jobs.events.webhooks. Deliveries' own events never cause webhooks (no loops).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from jobs.core.errors import JobTypeError
from jobs.engine.build import build_job
from jobs.events.emit import JobEvent
from jobs.events.webhooks import WEBHOOK_JOB_TYPE, webhook_message, webhook_receivers
from jobs.models import QueueJob

logger = logging.getLogger(__name__)


def delivery_jobs(events: Sequence[JobEvent], *, now: datetime) -> list[QueueJob]:
    """The (unsaved) delivery jobs of ``events``, one per (event, receiver); none when no receiver applies.

    A delivery that cannot be built (a receiver the system checks would have
    refused) is logged and left out: it must never fail the state change.
    """
    deliveries = []
    for event in events:
        for url in webhook_receivers(event):
            try:
                deliveries.append(build_job(
                    type=WEBHOOK_JOB_TYPE, payload={"url": url, "event": webhook_message(event)},
                    correlation_id=event.job.get("correlation_id") or event.job_id,
                    source_detail=f"{event.name} of {event.job_id}", now=now))
            except JobTypeError:
                logger.exception("event=webhook_not_written job_id=%s event=%s url=%s", event.job_id, event.name, url)
    return deliveries
