"""notification.webhook: one webhook delivery (see jobs.events.webhooks), retried by the notification queue's policy."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from pydantic import BaseModel, Field, field_validator

from jobs.core.registry import job_type
from jobs.events.webhooks import MAX_URL_LENGTH, WEBHOOK_JOB_TYPE, deliver, webhook_url_problem
from jobs.execution.context import JobContext


class WebhookPayload(BaseModel):
    url: str = Field(max_length=MAX_URL_LENGTH, description="Receiver (http or https)")
    event: dict[str, Any] = Field(description="The event, sent as the JSON body")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        problem = webhook_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


@job_type(WEBHOOK_JOB_TYPE, payload=WebhookPayload, queue="notification", timeout=settings.WEBHOOK_TIMEOUT + 5,
          access="internal")
def webhook(ctx: JobContext) -> dict:
    """POST a lifecycle event to a webhook receiver, signed with WEBHOOK_SECRET; the receiver is checked
    again here (its address, after resolving), and a refused one fails at once (PermanentError)."""
    payload: WebhookPayload = ctx.payload  # type: ignore[assignment]
    status = deliver(payload.url, payload.event, delivery_id=str(ctx.job_id), timeout=settings.WEBHOOK_TIMEOUT)
    return {"status": status, "url": payload.url}
