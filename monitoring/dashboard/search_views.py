"""The search box on every dashboard page: a job by its id or a unique prefix of it goes straight to
that job; anything else lists matching jobs of every queue (by id prefix, payload or error text)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from jobs.selectors.filters import FilterError, JobFilter
from jobs.selectors.jobs import jobs_named
from jobs.selectors.paging import InvalidCursor, keyset_page
from monitoring.dashboard import access
from monitoring.dashboard.views import PAGE_SIZE, job_rows, page_context

SEARCH_SORT = "-created"


@access.viewers_only
def search(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()
    if not q:
        return HttpResponseRedirect(reverse("monitoring:queues"))
    named = jobs_named(q, limit=2)
    if len(named) == 1:
        return HttpResponseRedirect(reverse("monitoring:job_progress", args=[named[0].id]))
    error, page = None, None
    try:
        job_filter = JobFilter(q=q)
        found = job_rows(job_filter)
        try:
            page = keyset_page(found, sort=SEARCH_SORT, limit=PAGE_SIZE, after=request.GET.get("after") or None)
        except InvalidCursor:
            page = keyset_page(found, sort=SEARCH_SORT, limit=PAGE_SIZE)
    except FilterError as exc:
        error = str(exc)
    return render(request, "admin/queues/dashboard/search.html", page_context(
        request, f"Jobs matching “{q}”", q=q, page=page, error=error), status=400 if error else 200)
