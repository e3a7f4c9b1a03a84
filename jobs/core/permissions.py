"""Who may do what: the permission names every interface checks (API, dashboard, WebSocket, CLI).

Seeing jobs needs staff status and ``view_queuejob``; each action needs its
own permission. Superusers hold every permission (Django's ``has_perm``).
"""
from __future__ import annotations

from typing import Any

VIEW = "jobs.view_queuejob"
ADD = "jobs.add_queuejob"
CHANGE = "jobs.change_queuejob"
DELETE = "jobs.delete_queuejob"
RETRY = "jobs.retry_queuejob"
CANCEL = "jobs.cancel_queuejob"
PAUSE = "jobs.pause_queue"

#: Short names of the action permissions (templates: ``can.retry`` …).
ACTION_PERMISSIONS = {"add": ADD, "change": CHANGE, "delete": DELETE, "retry": RETRY, "cancel": CANCEL,
                      "pause": PAUSE}


def can_view(user: Any) -> bool:
    """Active staff with the view permission may see jobs and queues (dashboard, WebSocket)."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW))


def allowed_actions(user: Any) -> dict[str, bool]:
    """Which actions ``user`` may take, by short name."""
    return {name: user.has_perm(permission) for name, permission in ACTION_PERMISSIONS.items()}
