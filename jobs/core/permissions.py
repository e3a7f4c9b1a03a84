"""The permission names every interface checks (API, dashboard, WebSocket, CLI).

Seeing jobs needs ``view_queuejob``; each action needs its own permission.
Who holds what, and what else is required (staff status, a token's scopes),
is decided in one place: jobs/core/access.py.
"""
from __future__ import annotations

from typing import Any

from jobs.core.registry import all_job_types

VIEW = "jobs.view_queuejob"
ADD = "jobs.add_queuejob"
CHANGE = "jobs.change_queuejob"
DELETE = "jobs.delete_queuejob"
RETRY = "jobs.retry_queuejob"
CANCEL = "jobs.cancel_queuejob"
PAUSE = "jobs.pause_queue"
#: Priority 0 jumps every queue's line: it takes a grant of its own.
PRIORITIZE = "jobs.prioritize_queuejob"

#: Short names of the action permissions (templates: ``can.retry`` …).
ACTION_PERMISSIONS = {"add": ADD, "change": CHANGE, "delete": DELETE, "retry": RETRY, "cancel": CANCEL,
                      "pause": PAUSE}


def create_enqueue_permissions(**kwargs: Any) -> None:
    """post_migrate: one ``jobs.enqueue_<type>`` permission per registered type, so admins can grant it
    (what it allows: jobs/core/access.py, ``may_enqueue``)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_by_natural_key("jobs", "queuejob")
    for jt in all_job_types():
        Permission.objects.get_or_create(
            content_type=content_type, codename=jt.enqueue_permission.removeprefix("jobs."),
            defaults={"name": f"Can enqueue {jt.name} jobs"[:255]},
        )
