"""email.send: through Django's email backend (console by default, SMTP by settings).

Whoever may enqueue it may send mail as the service, so it is a restricted
type (``jobs.enqueue_email.send``), the sender must be DEFAULT_FROM_EMAIL or
listed in EMAIL_ALLOWED_FROM, and one job reaches at most EMAIL_MAX_RECIPIENTS
addresses (README, "Security").
"""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from pydantic import BaseModel, EmailStr, Field, field_validator

from jobs.core.errors import PermanentError
from jobs.core.registry import job_type
from jobs.execution.context import JobContext


def allowed_senders() -> set[str]:
    return {address.lower() for address in [settings.DEFAULT_FROM_EMAIL, *settings.EMAIL_ALLOWED_FROM]}


def sender_problem(sender: str | None) -> str | None:
    if sender and sender.lower() not in allowed_senders():
        return f"must be one of: {', '.join(sorted(allowed_senders()))} (EMAIL_ALLOWED_FROM)"
    return None


def recipients_problem(addresses: list[str]) -> str | None:
    if len(addresses) > settings.EMAIL_MAX_RECIPIENTS:
        return f"at most {settings.EMAIL_MAX_RECIPIENTS} addresses (EMAIL_MAX_RECIPIENTS)"
    return None


class EmailPayload(BaseModel):
    to: list[EmailStr] = Field(min_length=1, max_length=100, description="Recipients")
    subject: str = Field(min_length=1, max_length=998)
    body: str = Field(description="Plain-text body")
    html: str | None = Field(None, description="Optional HTML alternative")
    from_email: EmailStr | None = Field(None, description="Sender (default: DEFAULT_FROM_EMAIL)")
    reply_to: list[EmailStr] = Field(default_factory=list, max_length=100)

    @field_validator("from_email")
    @classmethod
    def _allowed_sender(cls, sender: str | None) -> str | None:
        if problem := sender_problem(sender):
            raise ValueError(problem)
        return sender

    @field_validator("to", "reply_to")
    @classmethod
    def _few_recipients(cls, addresses: list[str]) -> list[str]:
        if problem := recipients_problem(addresses):
            raise ValueError(problem)
        return addresses


@job_type("email.send", payload=EmailPayload, queue="email", access="restricted")
def send_email(ctx: JobContext) -> dict:
    """Send one email message to its recipients."""
    payload: EmailPayload = ctx.payload  # type: ignore[assignment]
    # The settings may have changed since it was enqueued; retrying cannot help then.
    if problem := sender_problem(payload.from_email):
        raise PermanentError(f"from_email {problem}")
    if problem := recipients_problem([*payload.to, *payload.reply_to]):
        raise PermanentError(f"to and reply_to: {problem}")
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
