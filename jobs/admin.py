"""Admin for recurring schedules, API tokens and the audit trail (jobs themselves: the /admin/queues dashboard)."""
from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.text import Truncator

from jobs.api.tokens import api_token_create, api_tokens_revoke
from jobs.core.access import SCOPES, enqueueable_types, may_enqueue, person_denial, session_actor, token_permissions
from jobs.core.errors import JobTypeError
from jobs.core.registry import JobType, get_job_type
from jobs.engine.audit import audit_record
from jobs.models import ApiToken, AuditEntry, QueueJob, Schedule, ScheduleFiring
from jobs.plugins.cron import schedule_run_now


class ScheduleForm(forms.ModelForm):
    """A schedule enqueues on its editor's behalf: it offers only the types the editor may enqueue
    (jobs/core/permissions.py), plus the one an existing schedule already has."""

    job_type = forms.ChoiceField(choices=(), widget=forms.Select(attrs={"style": "max-width: 100%"}))
    user: Any = None  # set by ScheduleAdmin.get_form

    class Meta:
        model = Schedule
        fields = ["name", "job_type", "payload", "cron", "timezone", "enabled", "misfire_policy"]
        help_texts = {
            "cron": "minute hour day-of-month month day-of-week, e.g. '0 0 * * *' (daily at midnight); "
                    "a sixth field adds seconds",
            "timezone": "IANA name, e.g. UTC or Europe/Paris; fire times follow its DST changes",
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        types = enqueueable_types(session_actor(self.user, "admin"))
        if self.instance.job_type and self.instance.job_type not in {jt.name for jt in types}:
            choices = [(self.instance.job_type, self.instance.job_type)]
        else:
            choices = []
        # Descriptions cut short: a whole one made the select wider than the page.
        self.fields["job_type"].choices = choices + [
            (jt.name, f"{jt.name} — {Truncator(jt.description).chars(48)}" if jt.description else jt.name)
            for jt in types]


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    # No filter sidebar: a deployment has a handful of schedules, and the sidebar cut the list's last
    # columns at 1,400 px. The search box finds a schedule by name or type.
    list_display = ["name", "job_type", "cron_expression", "enabled", "next_fire", "last_fired", "fired_jobs"]
    search_fields = ["name", "job_type"]
    readonly_fields = ["next_fire_at", "last_fired_at", "last_result", "fired_jobs"]
    actions = ["run_now"]

    @admin.display(description="Cron", ordering="cron")
    def cron_expression(self, schedule: Schedule) -> str:
        return format_html('<span class="nowrap"><code>{}</code> {}</span>', schedule.cron, schedule.timezone)

    @admin.display(description="Next fire (UTC)", ordering="next_fire_at")
    def next_fire(self, schedule: Schedule) -> str:
        return _when(schedule.next_fire_at)

    @admin.display(description="Last fired (UTC)", ordering="last_fired_at")
    def last_fired(self, schedule: Schedule) -> str:
        return _when(schedule.last_fired_at)

    @admin.display(description="Jobs")
    def fired_jobs(self, schedule: Schedule) -> str:
        """The jobs this schedule fired, on the dashboard's queue page (its type's queue)."""
        job_type = _job_type(schedule.job_type)
        if job_type is None:
            return "—"
        url = reverse("monitoring:queue", args=[job_type.queue]) + "?" + urlencode({"schedule": schedule.name})
        return format_html('<a class="nowrap" href="{}">fired jobs</a>', url)

    @admin.action(description="Run now (the timetable is unchanged)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        actor = session_actor(request.user, "admin")
        for schedule in queryset.order_by("name"):
            job_type = _job_type(schedule.job_type)
            if job_type is None or not may_enqueue(actor, job_type):
                self.message_user(request, f"{schedule.name}: you may not enqueue {schedule.job_type}.",
                                  messages.ERROR)
                continue
            try:
                job = schedule_run_now(schedule, actor=actor)
            except JobTypeError as exc:
                self.message_user(request, f"{schedule.name}: {exc}", messages.ERROR)
                continue
            self.message_user(request, format_html(
                '{}: enqueued <a href="{}">{}</a>.', schedule.name,
                reverse("monitoring:job_progress", args=[job.id]), str(job.id)[:8]), messages.SUCCESS)

    def get_form(self, request: HttpRequest, obj: Schedule | None = None, **kwargs: Any) -> type[ScheduleForm]:
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    @admin.display(description="Result of the last firing")
    def last_result(self, schedule: Schedule) -> str:
        firing = ScheduleFiring.objects.filter(schedule=schedule, job_id__isnull=False).order_by("-fire_time").first()
        job = QueueJob.objects.filter(pk=firing.job_id).first() if firing else None
        if job is None:
            return "—"
        body = json.dumps(job.result, indent=2) if job.result is not None else job.error or "(no result yet)"
        return format_html("<p>{} — {}</p><pre>{}</pre>", job.status, job.id, body)


def _job_type(name: str) -> JobType | None:
    try:
        return get_job_type(name)
    except JobTypeError:
        return None  # a type removed since the schedule was saved


def _when(value: Any) -> str:
    """The dashboard's one date format (UTC), without seconds: a schedule's times are on the minute."""
    return format_html('<span class="nowrap">{}</span>', timezone.localtime(value, UTC).strftime("%Y-%m-%d %H:%M")) \
        if value else "—"


# --- API tokens -----------------------------------------------------------------------


class ApiTokenAddForm(forms.ModelForm):
    """A new token: its user, a label, scopes and a lifetime; the key is made on save and shown once."""

    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], initial=list(SCOPES),
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text="read: see jobs and queues; enqueue: create jobs; act: cancel, "
                                                 "retry, pause; metrics: scrape /metrics. Never more than the user's "
                                                 "own permissions.")
    expires_in_days = forms.FloatField(min_value=0, required=False,
                                       help_text="Days until it is refused; 0 never (empty: API_TOKEN_DEFAULT_DAYS)")

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].initial = settings.API_TOKEN_DEFAULT_DAYS

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        refused = person_denial(user)
        if refused is not None:
            raise forms.ValidationError(f"This user cannot use the API ({refused}): the token would be refused.")
        return user


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        return {
            "active": queryset.filter(live & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))),
            "expired": queryset.filter(live, expires_at__lte=now),
            "revoked": queryset.filter(revoked_at__isnull=False),
        }.get(self.value() or "", queryset)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens listed by prefix, with their use and state; revoked (not deleted: the audit names them by prefix)."""

    list_display = ["prefix", "name", "user", "scope_list", "state", "created_at", "last_used_at", "expires_at",
                    "revoked_at"]
    list_filter = [TokenStateFilter, "created_at"]
    search_fields = ["^prefix", "name", "user__username"]
    ordering = ["-created_at"]
    actions = ["revoke"]
    readonly_fields = ["prefix", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    fields = ["prefix", "name", "user", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, **kwargs: Any) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return ["user", "name", "scopes", "expires_in_days"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        return token.state()

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool) -> None:
        actor = session_actor(request.user, "admin")
        if change:
            super().save_model(request, obj, form, change)
            audit_record(actor=actor, action="token_change", count=1, target=f"token {obj.prefix}",
                         detail=f"changed {', '.join(form.changed_data) or 'nothing'}")
            return
        data = form.cleaned_data
        token, key = api_token_create(user=data["user"], name=data["name"], scopes=data["scopes"],
                                      expires_in_days=data["expires_in_days"])
        for field in ApiToken._meta.concrete_fields:  # the admin goes on with the row the service made
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        request._api_token_key = key  # type: ignore[attr-defined]  # for response_add, this request only
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
        audit_record(actor=actor, action="token_create", count=1, target=f"token {token.prefix}",
                     detail=f"{token.name!r} for {token.user}, scopes {','.join(token.scopes)}, {expiry}")

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        """The key, once: a page of its own (never stored, not even in a message cookie), not cached."""
        response = TemplateResponse(request, "admin/jobs/apitoken/created.html", {
            **self.admin_site.each_context(request), "token": obj, "key": request._api_token_key,  # type: ignore
            "allowed": token_permissions(obj.user, obj.scopes),
            "changelist_url": reverse("admin:jobs_apitoken_changelist"),
        })
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        with transaction.atomic():
            revoked = api_tokens_revoke(queryset)
            if revoked:
                audit_record(actor=session_actor(request.user, "admin"), action="token_revoke", count=len(revoked),
                             target="tokens " + ", ".join(t.prefix for t in revoked)[:190])
        self.message_user(request, f"{len(revoked)} token(s) revoked; they are refused from their next request on.",
                          messages.SUCCESS if revoked else messages.WARNING)


# --- Audit trail ------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: what was done, by whom, through what (jobs/engine/audit.py writes it, nothing edits it)."""

    list_display = ["at", "actor", "interface", "via", "credential", "action", "what", "count", "detail"]
    list_filter = ["interface", "via", "action", "at"]
    search_fields = ["actor", "credential", "object_id", "target", "detail"]
    date_hierarchy = "at"
    ordering = ["-at"]
    list_select_related = ["user"]

    @admin.display(description="on")
    def what(self, entry: AuditEntry) -> str:
        return entry.target or (f"job {entry.object_id}" if entry.object_id else "jobs")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
