"""Who may see and do what on the dashboard.

Seeing needs staff status and ``jobs.view_queuejob`` (anyone else is sent to
the admin login, as the admin does). Each action needs its own permission;
a user without it does not get the button, and the endpoint answers 403.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

VIEW = "jobs.view_queuejob"
ADD = "jobs.add_queuejob"
CHANGE = "jobs.change_queuejob"
DELETE = "jobs.delete_queuejob"
RETRY = "jobs.retry_queuejob"
CANCEL = "jobs.cancel_queuejob"
PAUSE = "jobs.pause_queue"

#: Template names of the permissions (``perms_ok.retry`` …).
PERMISSIONS = {"add": ADD, "change": CHANGE, "delete": DELETE, "retry": RETRY, "cancel": CANCEL, "pause": PAUSE}


def can_view(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW))


#: Decorator: staff with the view permission only; others go to the admin login page.
viewers_only: Callable = user_passes_test(can_view, login_url="admin:login")


def allowed(user: Any) -> dict[str, bool]:
    """Which actions ``user`` may take, for templates (buttons are shown only when allowed)."""
    return {name: user.has_perm(permission) for name, permission in PERMISSIONS.items()}


def require(user: Any, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(f"permission {permission} required")


def needs(permission: str) -> Callable:
    """Decorator for action views: a viewer without ``permission`` gets 403."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @viewers_only
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request.user, permission)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
