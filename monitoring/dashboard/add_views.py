"""Adding a job from the admin: pick a type, fill the form generated from its payload model.

"Run again" is the same form, filled in from an existing job (``?from=<id>``):
the edited payload is validated by the type's schema and becomes a new job.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from jobs.core import permissions
from jobs.core.access import enqueue_refusals, enqueueable_types, may_enqueue, session_actor
from jobs.core.errors import EnqueueRefused, JobTypeError
from jobs.core.registry import get_job_type, time_warning
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobSource
from jobs.selectors.jobs import job_get
from monitoring.dashboard import access
from monitoring.dashboard.audit import log_action
from monitoring.dashboard.payload_form import AddJobForm
from monitoring.dashboard.views import page_context


@access.needs(permissions.ADD)
def add_choose(request: HttpRequest) -> HttpResponse:
    return render(request, "admin/queues/dashboard/add_choose.html", page_context(
        request, "Add a job", job_types=enqueueable_types(session_actor(request.user, "dashboard"))))


@access.needs(permissions.ADD)
def add_job(request: HttpRequest, type_name: str) -> HttpResponse:
    try:
        job_type = get_job_type(type_name)
    except JobTypeError:
        raise Http404("No such job type") from None
    if not may_enqueue(session_actor(request.user, "dashboard"), job_type):
        raise PermissionDenied(f"enqueueing {job_type.name} needs {job_type.enqueue_permission}")
    source = job_get(request.GET.get("from", "")) if request.GET.get("from") else None
    if source is not None and source.type != job_type.name:
        source = None
    if request.method == "POST":
        form = AddJobForm(job_type, request.POST)
        if form.is_valid():
            try:
                enqueue = form.enqueue_request()
                if refusals := enqueue_refusals(session_actor(request.user, "dashboard"), job_type,
                                                      enqueue["priority"]):
                    raise EnqueueRefused("not allowed", refusals)
                result = job_enqueue(
                    **enqueue, source=JobSource.ADMIN, created_by=request.user,
                    source_detail=f"run again from {source.id}" if source else "dashboard",
                    correlation_id=source.correlation_id if source else "",
                )
            except JobTypeError as exc:
                form.add_job_errors(exc)
            else:
                job = result.job
                if result.created:
                    log_action(request.user, action="add", count=1, job_id=job.id,
                               description=f"{job.type} on {job.queue}" + (f", run again from {source.id}"
                                                                          if source else ""))
                    messages.success(request, f"Job {job.type} added to queue {job.queue}.")
                    if warning := time_warning(job.type, job.payload, job.timeout):
                        messages.warning(request, warning)
                else:
                    messages.warning(request, "A live job already holds that unique key: this is that job.")
                return HttpResponseRedirect(reverse("monitoring:job_progress", args=[job.id]))
    else:
        initial = {}
        if request.GET.get("queue"):
            initial["job_queue"] = request.GET["queue"]
        if source is not None:
            initial = {**(source.payload if isinstance(source.payload, dict) else {}),
                       "job_queue": source.queue, "job_priority": source.priority, "job_timeout": source.timeout}
        form = AddJobForm(job_type, initial=initial)
    title = f"Run {job_type.name} again" if source else f"Add {job_type.name}"
    return render(request, "admin/queues/dashboard/add_job.html", page_context(
        request, title, form=form, job_type=job_type, source=source))
