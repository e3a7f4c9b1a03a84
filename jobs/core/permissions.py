"""Who may do what: the permission names every interface checks (API, dashboard, WebSocket, CLI).

Seeing jobs needs staff status and ``view_queuejob``; each action needs its
own permission. Superusers hold every permission (Django's ``has_perm``).
Enqueueing is also decided per job type (``JobType.access``): the checks are
``enqueue_refusals`` here, called by the API, the dashboard's add form and
``enqueue_job`` alike.
"""
from __future__ import annotations

from typing import Any

from jobs.core.registry import JobType, all_job_types

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


def can_view(user: Any) -> bool:
    """Active staff with the view permission may see jobs and queues (dashboard, WebSocket)."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW))


def allowed_actions(user: Any) -> dict[str, bool]:
    """Which actions ``user`` may take, by short name."""
    return {name: user.has_perm(permission) for name, permission in ACTION_PERMISSIONS.items()}


def may_enqueue(user: Any, job_type: JobType) -> bool:
    """A person may enqueue a public type with ``add_queuejob``; any other type needs ``jobs.enqueue_<type>``."""
    if not user.has_perm(ADD):
        return False
    return job_type.enqueue_access() == "public" or user.has_perm(job_type.enqueue_permission)


def enqueueable_types(user: Any) -> list[JobType]:
    """The types the dashboard offers ``user``: internal ones only to whoever holds their permission."""
    return [jt for jt in all_job_types() if may_enqueue(user, jt)]


def enqueue_refusals(user: Any, job_type: JobType, priority: int | None = None) -> list[dict[str, str]]:
    """Field errors (empty: allowed) for a person enqueueing ``job_type`` at ``priority``."""
    refusals = []
    if not may_enqueue(user, job_type):
        refusals.append({"field": "type", "type": "permission_denied", "message": (
            f"{job_type.name} is {job_type.enqueue_access()}: enqueueing it needs {job_type.enqueue_permission}")})
    if priority == 0 and not user.has_perm(PRIORITIZE):
        refusals.append({"field": "priority", "type": "permission_denied",
                         "message": f"priority 0 needs {PRIORITIZE}; use 1-9"})
    return refusals


def create_enqueue_permissions(**kwargs: Any) -> None:
    """post_migrate: one ``jobs.enqueue_<type>`` permission per registered type, so admins can grant it."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_by_natural_key("jobs", "queuejob")
    for jt in all_job_types():
        Permission.objects.get_or_create(
            content_type=content_type, codename=jt.enqueue_permission.removeprefix("jobs."),
            defaults={"name": f"Can enqueue {jt.name} jobs"[:255]},
        )
