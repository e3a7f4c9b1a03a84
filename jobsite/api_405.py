"""A request with the wrong method on an API path answers JSON, as every other API error does
(django-ninja answers its 405 in plain text)."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class ApiMethodNotAllowed:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/") or response.get(
                "Content-Type", "").startswith("application/json"):
            return response
        allowed = response.get("Allow", "")
        answer = JsonResponse({"detail": f"method {request.method} not allowed here; allowed: {allowed}"},
                              status=405)
        answer["Allow"] = allowed
        return answer
