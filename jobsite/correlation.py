"""Every request gets a correlation id: the caller's ``X-Correlation-ID`` when it is a plain token, else a
new one. It is bound for the request's log lines and for any job the request enqueues
(jobs/core/log_context.py), returned in the response's ``X-Correlation-ID``, and each API request
logs one ``api_request`` line."""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jobs.core.log_context import bound

logger = logging.getLogger("jobs.api.requests")

#: What may be taken from a caller as is: no spaces or control characters to forge log lines with.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,100}")
HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        correlation_id = given if _ACCEPTED.fullmatch(given) else uuid.uuid4().hex
        started = time.monotonic()
        with bound(correlation_id=correlation_id):
            response = self.get_response(request)
            if request.path.startswith("/api/"):
                duration = time.monotonic() - started
                user = getattr(request, "user", None)
                logger.info("event=api_request method=%s path=%s status=%d duration=%.4f", request.method,
                            request.path, response.status_code, duration,
                            extra={"method": request.method, "path": request.path, "status": response.status_code,
                                   "duration": round(duration, 4),
                                   "user": user.get_username() if user is not None and user.is_authenticated else ""})
        response[HEADER] = correlation_id
        return response
