"""Webhooks: who receives an event, and how one delivery is signed and POSTed.

Receivers of an event:

- the job's own ``webhook_url`` (API field, ``build_job(webhook_url=...)``):
  every lifecycle event of that job, progress ticks excepted;
- ``settings.WEBHOOK_URLS``: receivers per event, from the environment as
  comma-separated ``event=url`` pairs, ``*=url`` for every lifecycle event,
  e.g. ``WEBHOOK_URLS="job:failed=https://a/b,job:completed=https://c/d"``.

The sink (jobs.engine.deliveries) runs in ``emit``: when (and only when) a
receiver applies it enqueues one ``notification.webhook`` job per receiver, all
in one INSERT and one Redis round trip. The delivery then runs on the ``notification`` queue with
that queue's retries; a receiver that keeps failing leaves a failed job (the
dead-letter queue). So a slow or dead receiver never delays the job whose event
it is. Delivery jobs' own events never cause webhooks (no loops).

A delivery POSTs the event (the WebSocket message: type, event, job, seq, at)
as compact JSON with sorted keys, the same bytes on every retry, signed:
``X-Signature: sha256=<hex HMAC-SHA256 of the body with WEBHOOK_SECRET>``.
``X-Delivery`` (the delivery job's id) stays the same across retries, for
receivers that deduplicate. Anything but a 2xx answer, redirects included,
is a failure and is retried.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning, register

from jobs.events.emit import JobEvent

logger = logging.getLogger(__name__)

WEBHOOK_JOB_TYPE = "notification.webhook"
MAX_URL_LENGTH = 2000
USER_AGENT = "jobqueue-webhooks/1"


class WebhookFailed(Exception):
    """The receiver did not answer with a 2xx status."""


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def webhook_receivers(event: JobEvent) -> list[str]:
    """The URLs that get ``event`` (none for progress ticks and for deliveries' own events)."""
    if event.name == "job:progress" or event.job.get("type") == WEBHOOK_JOB_TYPE:
        return []
    urls = list(settings.WEBHOOK_URLS.get(event.name, ()))
    if event.webhook_url:
        urls.append(event.webhook_url)
    return list(dict.fromkeys(urls))


def webhook_body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer we do not accept (and must not follow with the signature)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver(url: str, message: dict[str, Any], *, delivery_id: str, timeout: float) -> int:
    """POST ``message`` to ``url``; returns the status, raises WebhookFailed unless it is 2xx."""
    body = webhook_body(message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event": str(message.get("event", "")),
        "X-Delivery": delivery_id,
    }
    if settings.WEBHOOK_SECRET:
        headers["X-Signature"] = sign(body, settings.WEBHOOK_SECRET)
    else:
        logger.warning("event=webhook_unsigned url=%s; set WEBHOOK_SECRET", url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WebhookFailed(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookFailed(f"{url} unreachable: {reason}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"{url} answered {status}")
    return status


@register()
def check_webhook_secret(app_configs: object = None, **kwargs: object) -> list[Warning]:
    if settings.WEBHOOK_URLS and not settings.WEBHOOK_SECRET:
        return [Warning("WEBHOOK_URLS is set but WEBHOOK_SECRET is empty: deliveries go out unsigned",
                        hint="Set WEBHOOK_SECRET and share it with the receivers.", id="jobs.W101")]
    return []
