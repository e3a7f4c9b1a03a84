"""The metrics page (runs finished, failure rate, duration and wait percentiles over a window) and its numbers
as JSON, which the page fetches again when the ``ws/queues/`` socket says a run of its selection ended."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.core.config import get_config
from jobs.core.registry import all_job_types
from jobs.core.validation import text_problem
from jobs.models import QueueJob
from jobs.selectors.counts import job_counts
from monitoring.dashboard import access
from monitoring.dashboard.run_metrics import (
    MAX_RUNS,
    WINDOWS,
    RunMetrics,
    Window,
    run_metrics,
)
from monitoring.dashboard.views import page_context

DEFAULT_WINDOW = "1h"
#: Longer than any queue or type name can be (the columns hold 50 and 100 characters).
MAX_NAME = 100


class ParamError(ValueError):
    """A parameter a person could have mistyped: answered 400 with this message."""


@dataclass(frozen=True)
class MetricsParams:
    window: Window
    queue: str | None = None
    job_type: str | None = None

    def query(self, **changes: str | None) -> str:
        values = {"window": self.window.key, "queue": self.queue, "type": self.job_type, **changes}
        return urlencode({key: value for key, value in values.items() if value})


def _name(data: QueryDict, key: str) -> str | None:
    value = (data.get(key) or "").strip()
    if not value:
        return None
    if len(value) > MAX_NAME:
        raise ParamError(f"{key}: longer than {MAX_NAME} characters")
    problem = text_problem(value)
    if problem:
        raise ParamError(f"{key}: {problem}")
    return value


def parse_metrics(data: QueryDict) -> MetricsParams:
    """The window (1h, 24h, 7d), queue and job type asked for; ParamError names the first one that is wrong."""
    key = data.get("window") or DEFAULT_WINDOW
    if key not in WINDOWS:
        raise ParamError(f"window: {key[:20]!r} is not one of {', '.join(WINDOWS)}")
    queue, job_type = _name(data, "queue"), _name(data, "type")
    if queue is not None and queue not in get_config().queues and queue not in job_counts():
        raise ParamError(f"queue: no queue named {queue!r}")
    if job_type is not None and job_type not in {jt.name for jt in all_job_types()} \
            and not QueueJob.objects.filter(type=job_type).exists():  # a type since removed still has jobs
        raise ParamError(f"type: no job type named {job_type!r}")
    return MetricsParams(WINDOWS[key], queue, job_type)


def _body(params: MetricsParams, metrics: RunMetrics) -> str:
    """The tiles and tables (or the empty state): the page renders them, and the JSON carries them again."""
    base = reverse("monitoring:metrics")
    tables = [
        {"label": "Job type", "id": "metrics-types",
         "rows": [(name, stats, f"{base}?{params.query(type=name)}") for name, stats in metrics.by_type]},
        {"label": "Queue", "id": "metrics-queues",
         "rows": [(name, stats, f"{base}?{params.query(queue=name)}") for name, stats in metrics.by_queue]},
    ]
    return render_to_string("admin/queues/dashboard/_metrics_body.html", {
        "metrics": metrics, "params": params, "tables": tables, "max_runs": MAX_RUNS})


@access.viewers_only
def metrics_page(request: HttpRequest) -> HttpResponse:
    try:
        params, error = parse_metrics(request.GET), None
    except ParamError as exc:
        params, error = MetricsParams(WINDOWS[DEFAULT_WINDOW]), str(exc)
    metrics = None if error else run_metrics(window=params.window, queue=params.queue, job_type=params.job_type)
    base = reverse("monitoring:metrics")
    return render(request, "admin/queues/dashboard/metrics.html", page_context(
        request, "Metrics", params=params, metrics=metrics, error=error,
        body=_body(params, metrics) if metrics else "", series=metrics.series() if metrics else [],
        windows=[(w, f"{base}?{params.query(window=w.key)}") for w in WINDOWS.values()],
        queues=sorted(job_counts()), types=sorted(jt.name for jt in all_job_types()),
        data_url=f"{reverse('monitoring:metrics_data')}?{params.query()}", queues_ws="/ws/queues/",
    ), status=400 if error else 200)


@access.viewers_only
def metrics_data(request: HttpRequest) -> JsonResponse:
    """The page's numbers now: the charts' series and the tiles and tables as HTML (rendered as the page is)."""
    try:
        params = parse_metrics(request.GET)
    except ParamError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    metrics = run_metrics(window=params.window, queue=params.queue, job_type=params.job_type)
    return JsonResponse({
        "window": params.window.key, "start": metrics.start.isoformat(), "end": metrics.end.isoformat(),
        "sample": metrics.sample, "total": metrics.total.public(), "series": metrics.series(),
        "html": _body(params, metrics),
    })
