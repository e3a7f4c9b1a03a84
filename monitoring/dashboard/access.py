"""Who may see and do what on the dashboard.

Seeing needs staff status and ``jobs.view_queuejob`` (jobs.core.permissions;
anyone else is sent to the admin login, as the admin does). Each action needs
its own permission; a user without it does not get the button, and the
endpoint answers 403.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from jobs.core.permissions import can_view

#: Decorator: staff with the view permission only; others go to the admin login page.
viewers_only: Callable = user_passes_test(can_view, login_url="admin:login")


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
