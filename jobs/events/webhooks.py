"""Webhooks: who receives an event, which receivers may be reached, and how one delivery is signed and POSTed.

Receivers of an event:

- the job's own ``webhook_url`` (API field, ``build_job(webhook_url=...)``):
  every lifecycle event of that job, progress ticks excepted;
- ``settings.WEBHOOK_URLS``: receivers per event, from the environment as
  comma-separated ``event=url`` pairs, ``*=url`` for every lifecycle event,
  e.g. ``WEBHOOK_URLS="job:failed=https://a/b,job:completed=https://c/d"``.

Each (event, receiver) is a ``notification.webhook`` job written in the same
transaction as the state change that causes it (jobs.engine.publish, the
outbox): a committed change always has its deliveries, a rolled-back one none.
The delivery then runs on the ``notification`` queue with that queue's
retries; a receiver that keeps failing leaves a failed job (the dead-letter
queue). So a slow or dead receiver never delays the job whose event it is.
Delivery jobs' own events never cause webhooks (no loops).

Which receivers may be reached (server-side request forgery): a receiver's
host must resolve only to public addresses; loopback, private, link-local,
multicast, unspecified and other reserved addresses are refused unless
``settings.WEBHOOK_ALLOWED_HOSTS`` lists the host name or a network holding
the address. A job's ``webhook_url`` is checked when it is enqueued, and every
delivery checks again: it resolves the host once and connects to the address it
checked, so a name that changes its answer in between (DNS rebinding) cannot
lead it elsewhere. A delivery follows no redirect, has WEBHOOK_TIMEOUT seconds
in all (connect, send and answer together, so a receiver dripping its answer
cannot hold a worker) and reads no more than the status line of the answer,
at most MAX_ANSWER_BYTES.

A delivery POSTs the event (type, event, job, at: the WebSocket message without
its stream sequence number, which does not exist yet when the delivery is
written) as compact JSON with sorted keys, the same bytes on every retry, signed:
``X-Webhook-Timestamp: <unix seconds of this attempt>`` and
``X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with WEBHOOK_SECRET>``.
A receiver recomputes the HMAC over the timestamp header, a dot and the raw
body, compares in constant time, and refuses a timestamp more than a few
minutes from its clock (a replay); ``X-Delivery`` (the delivery job's id) stays
the same across retries, for receivers that deduplicate. Without a secret
nothing is sent (and no delivery is written). Anything but a 2xx answer, redirects included, is a failure
and is retried; a refused receiver fails at once (PermanentError).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register

from jobs.core.errors import PermanentError
from jobs.core.validation import text_problem
from jobs.events.emit import EVENTS, JobEvent

logger = logging.getLogger(__name__)

WEBHOOK_JOB_TYPE = "notification.webhook"
MAX_URL_LENGTH = 2000
#: The most of a receiver's answer a delivery reads: the status line is all it needs.
MAX_ANSWER_BYTES = 4096
USER_AGENT = "jobqueue-webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookFailed(Exception):
    """The receiver did not answer with a 2xx status in time (retried by the queue's policy)."""


class WebhookRefused(PermanentError):
    """The delivery may not go out: the receiver is not a public address, or there is no secret."""


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, by its form alone (no DNS), or None when it may.

    A host written as an address is checked here too; a host name is checked
    where it is resolved (``webhook_host_problem`` at enqueue, ``deliver``).
    """
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    problem = text_problem(url)
    if problem:
        return problem
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "must not contain spaces or control characters"
    if not url.isascii():
        return "must be plain ASCII (other characters %XX-encoded, host names in punycode)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    address = _address(parts.hostname)
    if address is not None and not _allowed(parts.hostname, address):
        return _refusal(parts.hostname, address)
    return None


def webhook_host_problem(url: str) -> str | None:
    """Why a job's own ``webhook_url`` (already of a good form) may not be used: no secret to sign
    with, or a host that does not resolve or resolves to an address that is refused."""
    if not webhooks_enabled():
        return "is not accepted: this server has no WEBHOOK_SECRET to sign deliveries with"
    try:
        _resolve(urlsplit(url))
    except (WebhookFailed, WebhookRefused) as exc:
        return str(exc)
    return None


def webhooks_enabled() -> bool:
    """Whether deliveries are written at all: only with a secret to sign them (none goes out unsigned,
    and a job's webhook_url is refused without one), so without it state changes pay nothing for them."""
    return bool(settings.WEBHOOK_SECRET)


def webhook_receivers(event: JobEvent) -> list[str]:
    """The URLs that get ``event`` (none for progress ticks and for deliveries' own events, and none
    at all while webhooks are not enabled)."""
    if event.name == "job:progress" or event.job.get("type") == WEBHOOK_JOB_TYPE or not webhooks_enabled():
        return []
    urls = list(settings.WEBHOOK_URLS.get(event.name, ()))
    if event.webhook_url:
        urls.append(event.webhook_url)
    return list(dict.fromkeys(urls))


def webhook_message(event: JobEvent) -> dict[str, Any]:
    """What a delivery sends: the WebSocket message but its ``seq`` (stamped only after commit)."""
    message = event.message()
    del message["seq"]
    return message


def webhook_body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """The X-Signature of ``body`` sent at ``timestamp`` (X-Webhook-Timestamp): both are signed, so
    a receiver that checks the timestamp's age refuses a replayed delivery."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# --- which addresses may be reached ------------------------------------------------------


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _allow_list(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[Any, ...]]:
    """WEBHOOK_ALLOWED_HOSTS (checked by jobsite/settings.py) as (host names, networks)."""
    names, networks = set(), []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return frozenset(names), tuple(networks)


def _allowed(host: str, address: IPAddress) -> bool:
    """Public addresses may be reached; any other only if its host or a network holding it is listed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_global and not address.is_multicast:
        return True
    names, networks = _allow_list(tuple(settings.WEBHOOK_ALLOWED_HOSTS))
    return host.lower().rstrip(".") in names or any(address in network for network in networks)


def _refusal(host: str, address: IPAddress) -> str:
    shown = host if str(address) == host.strip("[]") else f"{host} ({address})"
    return f"must not point at a non-public address: {shown}; list it in WEBHOOK_ALLOWED_HOSTS to allow it"


@dataclass(frozen=True)
class _Target:
    """A receiver resolved and checked: where a delivery connects (the address, not the name again)."""

    parts: SplitResult
    family: int
    sockaddr: tuple[Any, ...]


def _resolve(parts: SplitResult) -> _Target:
    """Resolve the receiver's host once; WebhookRefused unless every address it has may be reached,
    WebhookFailed if it does not resolve."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:  # perhaps for a moment: a delivery tries again
        raise WebhookFailed(f"has a host that does not resolve: {host} ({exc})") from None
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not _allowed(host, address):
            raise WebhookRefused(_refusal(host, address))
    family, *_, sockaddr = infos[0]
    return _Target(parts, family, sockaddr)


# --- one delivery ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer in time")
    return left


def _post(target: _Target, request: bytes, deadline: float) -> bytes:
    """Send ``request`` to the checked address and return the start of the answer (its status line),
    every step bounded by what is left of the one deadline."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(_left(deadline))
        sock.connect(target.sockaddr)
        if target.parts.scheme == "https":
            # The certificate is checked against the URL's host name, the connection goes to the address.
            sock = _tls().wrap_socket(sock, server_hostname=target.parts.hostname, do_handshake_on_connect=False)
            sock.settimeout(_left(deadline))
            sock.do_handshake()
        sock.settimeout(_left(deadline))
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer and len(answer) < MAX_ANSWER_BYTES:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(MAX_ANSWER_BYTES - len(answer))
            if not chunk:
                break
            answer += chunk
        return answer
    finally:
        sock.close()


def deliver(url: str, message: dict[str, Any], *, delivery_id: str, timeout: float) -> int:
    """POST ``message`` to ``url`` within ``timeout`` seconds in all; returns the status.

    Raises WebhookRefused (no secret, or the receiver may not be reached) and
    WebhookFailed (does not resolve, unreachable, too slow, or an answer other than 2xx).
    """
    secret = settings.WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused("WEBHOOK_SECRET is empty: webhooks are not sent unsigned")
    problem = webhook_url_problem(url)
    if problem:
        raise WebhookRefused(f"{url} {problem}")
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    try:
        target = _resolve(parts)
    except (WebhookFailed, WebhookRefused) as exc:
        raise type(exc)(f"{url} {exc}") from None
    body = webhook_body(message)
    timestamp = str(int(time.time()))
    headers = {
        "Host": parts.netloc,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        "X-Event": event if (event := message.get("event")) in EVENTS else "",  # never raw text in a header
        "X-Delivery": delivery_id,
        "X-Webhook-Timestamp": timestamp,
        "X-Signature": sign(body, secret, timestamp),
    }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    try:
        answer = _post(target, head.encode() + b"\r\n" + body, deadline)
    except TimeoutError:
        raise WebhookFailed(f"{url} did not answer within {timeout:g} s") from None
    except OSError as exc:  # ssl.SSLError included
        raise WebhookFailed(f"{url} unreachable: {str(exc) or type(exc).__name__}") from None
    status_line = answer.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise WebhookFailed(f"{url} gave no HTTP answer")
    status = int(status_line[1])
    if not 200 <= status < 300:
        redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
        raise WebhookFailed(f"{url} answered {status}{redirect}")
    return status


@register()
def check_webhooks(app_configs: object = None, **kwargs: object) -> list[Error | Warning]:
    """WEBHOOK_URLS must be receivers a delivery may reach, and signed."""
    messages: list[Error | Warning] = []
    for url in sorted({url for urls in settings.WEBHOOK_URLS.values() for url in urls}):
        problem = webhook_url_problem(url)
        if problem:
            messages.append(Error(f"WEBHOOK_URLS: {url} {problem}", id="jobs.E102"))
    if settings.WEBHOOK_URLS and not settings.WEBHOOK_SECRET:
        messages.append(Warning("WEBHOOK_URLS is set but WEBHOOK_SECRET is empty: no delivery goes out",
                                hint="Set WEBHOOK_SECRET and share it with the receivers.", id="jobs.W101"))
    return messages
