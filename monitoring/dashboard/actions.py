"""Dashboard actions (POST, CSRF-protected): bulk actions over a selection or a whole filter, pause and
resume, retry and cancel of one job. Each checks its own permission (403 without it), calls a service
in jobs/, writes an audit entry and redirects back with a message."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from jobs.core import permissions
from jobs.core.errors import InvalidTransition, JobTypeError
from jobs.engine.bulk import ACTIONS, jobs_act_where
from jobs.engine.queues import queue_pause, queue_resume
from jobs.engine.transitions import job_cancel, job_requeue
from jobs.selectors.counts import jobs_matching_count
from jobs.selectors.filters import FilterError
from jobs.selectors.jobs import job_get
from monitoring.dashboard import access
from monitoring.dashboard.audit import log_action
from monitoring.dashboard.params import parse
from monitoring.dashboard.views import EXACT_COUNT_BUDGET_MS, known_queue, page_context


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = fallback
    return HttpResponseRedirect(target)


def _plural(n: int, word: str = "job") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@access.viewers_only
def bulk_action(request: HttpRequest) -> HttpResponse:
    """GET: confirm an action over a whole filter, with the count. POST: do it (on the filter or on ``ids``)."""
    data = request.POST if request.method == "POST" else request.GET
    action = ACTIONS.get(data.get("action", ""))
    if action is None:
        return HttpResponseBadRequest("unknown action")
    access.require(request.user, action.permission)
    try:
        queue = data.get("queue") or None
        if queue:
            known_queue(queue)
        params = parse(data)
    except FilterError as exc:
        messages.error(request, f"Nothing done: {exc}")
        return _back(request, reverse("monitoring:queues"))
    fallback = reverse("monitoring:queue", args=[queue]) if queue else reverse("monitoring:queues")
    selected = bool(params.filter.ids)
    if data.get("scope") == "selected" and not selected:
        messages.warning(request, "No jobs were selected.")
        return _back(request, fallback)
    eligible = params.filter.only(action.states)
    if request.method != "POST":
        count = jobs_matching_count(eligible, budget_ms=EXACT_COUNT_BUDGET_MS)
        return render(request, "admin/queues/dashboard/confirm.html", page_context(
            request, f"Confirm: {action.label}", action=action, count=count, params=params,
            description=eligible.describe(), hidden=params.pairs(absolute=True),
            next_url=data.get("next") or fallback, queue_name=queue))
    changed = jobs_act_where(action.name, params.filter)
    what = params.filter.describe()
    log_action(request.user, action=action.name, count=changed, description=what,
               job_id=params.filter.ids[0] if selected and len(params.filter.ids) == 1 else None)
    level = messages.SUCCESS if changed else messages.WARNING
    skipped = ""
    if selected and changed < len(params.filter.ids):
        skipped = f"; {_plural(len(params.filter.ids) - changed)} left alone (their state does not allow it)"
    messages.add_message(request, level, f"{_plural(changed).capitalize()} {action.verb}{skipped}.")
    return _back(request, fallback)


@require_POST
@access.needs(permissions.PAUSE)
def pause(request: HttpRequest, name: str) -> HttpResponse:
    return _switch(request, name, paused=True)


@require_POST
@access.needs(permissions.PAUSE)
def resume(request: HttpRequest, name: str) -> HttpResponse:
    return _switch(request, name, paused=False)


def _switch(request: HttpRequest, name: str, *, paused: bool) -> HttpResponse:
    try:
        (queue_pause if paused else queue_resume)(name=name)
    except JobTypeError:
        messages.error(request, f"There is no queue {name!r}.")
        return _back(request, reverse("monitoring:queues"))
    verb = "pause" if paused else "resume"
    log_action(request.user, action=verb, count=0, description=f"queue={name}", queue=name)
    messages.success(request, f"Queue {name} {'paused: workers take no new job from it' if paused else 'resumed'}.")
    return _back(request, reverse("monitoring:queue", args=[name]))


@require_POST
@access.needs(permissions.RETRY)
def job_retry(request: HttpRequest, job_id: str) -> HttpResponse:
    return _job_action(request, job_id, "retry")


@require_POST
@access.needs(permissions.CANCEL)
def job_cancel_view(request: HttpRequest, job_id: str) -> HttpResponse:
    return _job_action(request, job_id, "cancel")


def _job_action(request: HttpRequest, job_id: str, action: str) -> HttpResponse:
    job = job_get(job_id)
    page = reverse("monitoring:job_progress", args=[job_id])
    if job is None:
        messages.error(request, "That job no longer exists.")
        return HttpResponseRedirect(reverse("monitoring:queues"))
    try:
        changed = job_requeue(job_id=job.id) if action == "retry" else job_cancel(job_id=job.id)
    except InvalidTransition as exc:
        messages.error(request, f"Not done: {exc}.")
        return _back(request, page)
    log_action(request.user, action=action, count=1, description=f"{job.type} on {job.queue}", job_id=job.id)
    if action == "cancel" and changed.status == "active":
        messages.success(request, "Asked the running job to stop; it is cancelled at its next progress report.")
    else:
        messages.success(request, f"Job {'sent round again' if action == 'retry' else 'cancelled'}.")
    return _back(request, page)
