"""Dashboard pages (GET): overview, one queue's jobs, dead letters, workers. Thin: parse, select, render."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import TextField
from django.db.models.functions import Cast, Left
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from jobs.core.config import get_config
from jobs.core.access import allowed_actions
from jobs.core.registry import all_job_types
from jobs.core.states import JobStatus
from jobs.core.validation import text_problem
from jobs.engine.bulk import ACTIONS
from jobs.models import QueueJob
from jobs.selectors.counts import MatchCount, job_counts, jobs_matching_count
from jobs.selectors.filters import FilterError, JobFilter
from jobs.selectors.paging import InvalidCursor, keyset_page
from jobs.selectors.queues import queue_stats, queue_stats_one
from monitoring.dashboard import access
from monitoring.dashboard.params import SORT_LABELS, TIME_RANGES, ListParams, parse
from monitoring.dashboard.selectors import STATES, dead_letter_groups, worker_rows

PAGE_SIZE = 50
#: Newest jobs listed under the overview's table (kept current by its script).
LATEST_JOBS = 8
#: Columns a list row shows; payload and error are cut short in SQL (payloads can be 200 kB).
ROW_FIELDS = ("id", "type", "queue", "status", "priority", "attempts", "max_attempts", "progress_percent",
              "progress_stage", "created_at", "started_at", "finished_at", "run_at", "cancel_requested")
#: The count shown above a list may take this long; past it the page shows the planner's
#: estimate and its script asks for the exact number (``queue_count``) after loading.
LIST_COUNT_BUDGET_MS = 80
EXACT_COUNT_BUDGET_MS = 5000


def page_context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": title,
        "can": allowed_actions(request.user),
        "states": STATES,
        **extra,
    }


def known_queue(name: str) -> str:
    if name in get_config().queues or name in job_counts():  # job_counts: a queue since removed still has jobs
        return name
    raise Http404("No such queue")


@access.viewers_only
def overview(request: HttpRequest) -> HttpResponse:
    queues = queue_stats(with_throughput=True)
    totals = {state: sum(q.counts[state] for q in queues) for state in STATES}
    hour = {"completed": sum(q.completed_last_hour for q in queues), "retried": sum(q.retried_last_hour for q in queues),
            "failed": sum(q.failed_last_hour for q in queues)}
    latest = QueueJob.objects.only("id", "type", "queue", "status", "created_at").order_by("-created_at", "-id")
    return render(request, "admin/queues/dashboard/overview.html", page_context(
        request, "Queues", queues=queues, totals=totals, hour=hour, live=[q.live() for q in queues],
        latest=latest[:LATEST_JOBS], queues_ws="/ws/queues/"))


def job_rows(job_filter: JobFilter):  # noqa: ANN202 (a QuerySet of partial QueueJobs)
    return job_filter.queryset().only(*ROW_FIELDS).annotate(
        payload_head=Left(Cast("payload", TextField()), 160), error_head=Left("error", 300))


def _bulk_buttons(request: HttpRequest, params: ListParams) -> list[dict[str, Any]]:
    """Whole-filter actions the user may take that can apply to the listed states."""
    listed = set(params.filter.statuses or JobStatus.values)
    return [{"name": a.name, "label": a.label} for a in ACTIONS.values()
            if listed & a.states and request.user.has_perm(a.permission)]


@access.viewers_only
def queue_page(request: HttpRequest, name: str) -> HttpResponse:
    name = known_queue(name)
    error = None
    try:
        params = parse(request.GET, queue=name)
    except FilterError as exc:
        error, params = str(exc), ListParams(JobFilter(queue=name))
    try:
        page = keyset_page(job_rows(params.filter), sort=params.sort, limit=PAGE_SIZE, after=params.after,
                           before=params.before)
    except InvalidCursor:
        page = keyset_page(job_rows(params.filter), sort=params.sort, limit=PAGE_SIZE)
    if not (params.after or params.before) and page.next_cursor is None:
        count = MatchCount(len(page.rows), True)  # the whole result is on this page: no second query
    else:
        count = jobs_matching_count(params.filter, budget_ms=LIST_COUNT_BUDGET_MS)
    summary = queue_stats_one(name, with_throughput=True)
    base = reverse("monitoring:queue", args=[name])
    tabs = [{"label": "all", "count": summary.total if summary else 0, "active": not params.filter.statuses,
             "url": f"{base}?{params.query(state=None, sort=None)}"}]
    for state in STATES:
        tabs.append({"label": state, "count": summary.counts.get(state, 0) if summary else 0,
                     "active": params.filter.statuses == (state,),
                     "url": f"{base}?{params.query(state=[state], sort=None)}"})
    sorts = [(key, label) for key, label in SORT_LABELS.items()
             if params.finished_sort_allowed or not key.endswith("finished")]
    return render(request, "admin/queues/dashboard/queue.html", page_context(
        request, f"Queue {name}", queue=summary, name=name, params=params, page=page, count=count, error=error,
        tabs=tabs, sorts=sorts, time_ranges=TIME_RANGES, bulk=_bulk_buttons(request, params),
        types=sorted({jt.name for jt in all_job_types()} | ({params.filter.type} if params.filter.type else set())),
        query=params.query(), base=base, error_cleared=params.query(error=None),
        schedule_cleared=params.query(schedule=None),
        next_url=f"{base}?{params.query()}",
        live=[summary.live()] if summary else [], queues_ws="/ws/queues/"), status=400 if error else 200)


@access.viewers_only
def queue_count(request: HttpRequest, name: str) -> JsonResponse:
    """The exact number of jobs a list's filter matches (the list page shows an estimate first)."""
    try:
        params = parse(request.GET, queue=known_queue(name))
    except FilterError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    count = jobs_matching_count(params.filter, budget_ms=EXACT_COUNT_BUDGET_MS)
    return JsonResponse({"count": count.n, "exact": count.exact})


@access.viewers_only
def dead_letters(request: HttpRequest) -> HttpResponse:
    job_type = (request.GET.get("type") or "").strip() or None
    problem = text_problem(job_type) if job_type else None
    if problem:
        return HttpResponseBadRequest(f"type: {problem}")
    groups = dead_letter_groups(job_type=job_type)
    failed = sum(q.counts.get("failed", 0) for q in queue_stats())
    return render(request, "admin/queues/dashboard/dead_letters.html", page_context(
        request, "Dead letters", groups=groups, failed=failed, job_type=job_type,
        types=sorted({jt.name for jt in all_job_types()}), next_url=request.get_full_path()))


@access.viewers_only
def workers(request: HttpRequest) -> HttpResponse:
    rows, reachable = worker_rows()
    return render(request, "admin/queues/dashboard/workers.html", page_context(
        request, "Workers", workers=rows, reachable=reachable, lease=get_config().lease_seconds))
