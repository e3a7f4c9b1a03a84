"""A web request whose query ran past WEB_STATEMENT_TIMEOUT answers 503, not 500.

PostgreSQL cancels the statement (jobsite/settings.py sets ``statement_timeout`` on web
processes' connections); this turns the cancellation into an answer the caller can act on:
retry later, or ask for less (a narrower filter). Other database errors stay errors.
"""
from __future__ import annotations

from collections.abc import Callable

import psycopg.errors
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

MESSAGE = "the database took too long to answer; retry later or narrow the request"


def is_statement_timeout(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, psycopg.errors.QueryCanceled)


class StatementTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_statement_timeout(exception):
            return None
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "5"
        return response
