"""email.send: through Django's email backend (console by default, SMTP by settings)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from pydantic import BaseModel, EmailStr, Field

from jobs.core.registry import job_type
from jobs.execution.context import JobContext


class EmailPayload(BaseModel):
    to: list[EmailStr] = Field(min_length=1, max_length=100, description="Recipients")
    subject: str = Field(min_length=1, max_length=998)
    body: str = Field(description="Plain-text body")
    html: str | None = Field(None, description="Optional HTML alternative")
    from_email: EmailStr | None = Field(None, description="Sender (default: DEFAULT_FROM_EMAIL)")
    reply_to: list[EmailStr] = Field(default_factory=list)


@job_type("email.send", payload=EmailPayload, queue="email")
def send_email(ctx: JobContext) -> dict:
    """Send one email message to its recipients."""
    payload: EmailPayload = ctx.payload  # type: ignore[assignment]
    message = EmailMultiAlternatives(
        subject=payload.subject,
        body=payload.body,
        from_email=payload.from_email or settings.DEFAULT_FROM_EMAIL,
        to=list(payload.to),
        reply_to=list(payload.reply_to) or None,
        headers={"X-Job-Id": str(ctx.job_id)},
    )
    if payload.html:
        message.attach_alternative(payload.html, "text/html")
    sent = message.send(fail_silently=False)
    return {"sent": sent, "recipients": len(payload.to)}
