"""The job page (the live progress view, plus attempts, timeline and actions) and its timeline fragment."""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.core.states import CANCELLABLE_STATES, RETRYABLE_STATES, JobStatus
from monitoring.dashboard import access
from monitoring.dashboard.selectors import job_detail
from monitoring.dashboard.views import page_context
from monitoring.live.snapshots import job_snapshot


@access.viewers_only
def job_page(request: HttpRequest, job_id: str) -> HttpResponse:
    """One job, live: the progress view's snapshot and socket (ws/jobs/<id>/) with the dashboard's sections."""
    snapshot = job_snapshot(job_id)
    detail = job_detail(job_id)
    if snapshot is None or detail is None:
        raise Http404("No such job")
    seq, job = snapshot
    status = detail.job.status
    return render(request, "admin/queues/dashboard/job.html", page_context(
        request, f"Job {job['type']}", job=job, snapshot={"seq": seq, "job": job}, ws_path=f"/ws/jobs/{job['id']}/",
        detail=detail, row=detail.job,
        can_retry_now=status in RETRYABLE_STATES,
        can_cancel_now=status in CANCELLABLE_STATES or (status == JobStatus.ACTIVE and not detail.job.cancel_requested),
        next_url=request.get_full_path()))


@access.viewers_only
def job_timeline(request: HttpRequest, job_id: str) -> HttpResponse:
    """The attempts and timeline sections alone: the job page fetches them again after each lifecycle event."""
    detail = job_detail(job_id)
    if detail is None:
        raise Http404("No such job")
    return render(request, "admin/queues/dashboard/_job_sections.html", {"detail": detail, "row": detail.job})
