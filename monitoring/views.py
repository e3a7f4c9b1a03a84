"""Pages under /admin/queues/: the live progress view of one job (and, for now, a plain queue overview)."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.contrib.auth.decorators import user_passes_test
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.models import QueueJob
from jobs.states import JobStatus
from monitoring.selectors import can_watch, job_snapshot, queue_counts

#: Staff with jobs.view_queuejob only; anyone else goes to the admin login page.
watchers_only: Callable = user_passes_test(can_watch, login_url="admin:login")

RECENT_JOBS = 20


def _admin_context(request: HttpRequest) -> dict:
    # No app sidebar: the job models are not admin-registered, so it would only say "no permission".
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False}


@watchers_only
def queues_index(request: HttpRequest) -> HttpResponse:
    """Counts per queue and the latest jobs (the full dashboard comes later)."""
    context = {
        **_admin_context(request),
        "title": "Queues",
        "states": list(JobStatus.values),
        "queues": queue_counts(),
        "recent": QueueJob.objects.only("id", "type", "queue", "status", "progress_percent", "created_at")
        .order_by("-created_at")[:RECENT_JOBS],
    }
    return render(request, "admin/queues/index.html", context)


@watchers_only
def job_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    """One job, live: the page renders the snapshot and then follows ws/jobs/<id>/."""
    snapshot = job_snapshot(job_id)
    if snapshot is None:
        raise Http404("No such job")
    seq, job = snapshot
    context = {
        **_admin_context(request),
        "title": f"Job {job['type']}",
        "job": job,
        "snapshot": {"seq": seq, "job": job},
        "ws_path": f"/ws/jobs/{job['id']}/",
    }
    return render(request, "admin/queues/job_progress.html", context)
