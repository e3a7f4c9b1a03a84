"""GET /metrics: Prometheus' text format (jobs.selectors.metrics), for a token or a listed network.

Not a ninja operation: Prometheus speaks its own format and sends its credentials
as a bearer token (``authorization`` in a scrape config). A token needs the
``metrics`` scope, and its user must be someone who may see the dashboard;
scrapers inside ``METRICS_ALLOWED_NETWORKS`` need no token (the address is
REMOTE_ADDR: behind a proxy, list the proxy's, or use a token).
"""
from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jobs.api.tokens import api_token_get
from jobs.core.access import METRICS_SCOPE, can_view
from jobs.selectors.metrics import metrics_registry


def _refusal(request: HttpRequest) -> JsonResponse | None:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if address is not None and any(address in network for network in settings.METRICS_ALLOWED_NETWORKS):
        return None
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        response = JsonResponse({"detail": "a bearer token with the metrics scope is required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    token = api_token_get(key.strip())
    if token is None:
        return JsonResponse({"detail": "invalid, expired or revoked API token"}, status=401)
    if METRICS_SCOPE not in token.scopes:
        return JsonResponse({"detail": "this token lacks the metrics scope"}, status=403)
    if not can_view(token.user):
        return JsonResponse({"detail": "the token's user may not see jobs and queues"}, status=403)
    return None


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
