"""GET /healthz: the health checks (jobs.selectors.health) as JSON, 200 or 503."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from jobs.selectors.health import health_check


def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: no authentication, so load balancers and orchestrators can call it."""
    health = health_check()
    return JsonResponse(health.as_dict(), status=200 if health.healthy else 503)
