"""A server span per web request when tracing is on (jobs/core/tracing.py), continuing the caller's trace
from its ``traceparent`` header; the enqueue spans of the request's jobs nest inside it."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jobs.core import tracing


class TracingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not tracing.enabled():
            return self.get_response(request)
        with tracing.server_span(request.method or "GET", request.path, request.headers) as span:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            if span is not None:
                if match is not None and match.route:
                    span.update_name(f"{request.method} /{match.route}")
                span.set_attribute("http.response.status_code", response.status_code)
            return response
