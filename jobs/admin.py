"""Admin for recurring schedules (jobs themselves are shown by the /admin/queues dashboard)."""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from jobs.core.permissions import enqueueable_types
from jobs.models import QueueJob, Schedule, ScheduleFiring


class ScheduleForm(forms.ModelForm):
    """A schedule enqueues on its editor's behalf: it offers only the types the editor may enqueue
    (jobs/core/permissions.py), plus the one an existing schedule already has."""

    job_type = forms.ChoiceField(choices=())
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
        types = enqueueable_types(self.user)
        if self.instance.job_type and self.instance.job_type not in {jt.name for jt in types}:
            choices = [(self.instance.job_type, self.instance.job_type)]
        else:
            choices = []
        self.fields["job_type"].choices = choices + [(jt.name, f"{jt.name} — {jt.description}") for jt in types]


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "job_type", "cron", "timezone", "enabled", "next_fire_at", "last_fired_at"]
    list_filter = ["enabled", "job_type"]
    search_fields = ["name", "job_type"]
    readonly_fields = ["next_fire_at", "last_fired_at", "last_result"]

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
