"""The admin site, with the queue dashboard listed on the index page and in the sidebar.

The dashboard's pages are not model admins, so the admin would not list them;
this site adds a "Queues" section (overview, dead letters, workers, add job)
for staff who may view jobs. Installed in place of ``django.contrib.admin``
(settings.INSTALLED_APPS names monitoring.admin_apps.JobsAdminConfig), the documented
way to replace the default site.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from jobs.core.access import allows, can_view, session_actor
from jobs.core.permissions import ADD


class JobsAdminSite(admin.AdminSite):
    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is None and can_view(request.user):
            apps.insert(0, queues_app(request))
        return apps


def queues_app(request: HttpRequest) -> dict[str, Any]:
    def entry(name: str, object_name: str, url: str, add_url: str | None = None) -> dict[str, Any]:
        return {"name": name, "object_name": object_name, "admin_url": url, "add_url": add_url,
                "view_only": True, "perms": {"view": True}}

    may_add = allows(session_actor(request.user, "dashboard"), ADD)
    return {
        "name": "Queues",
        "app_label": "queues",
        "app_url": reverse("monitoring:queues"),
        "has_module_perms": True,
        "models": [
            entry("Queues and jobs", "QueueOverview", reverse("monitoring:queues"),
                  reverse("monitoring:add_choose") if may_add else None),
            entry("Dead letters", "DeadLetters", reverse("monitoring:dead_letters")),
            entry("Workers", "Workers", reverse("monitoring:workers")),
        ],
    }
