"""Who may see and do what on the dashboard.

The rules are jobs/core/access.py's, as for the API and the WebSockets:
seeing needs staff status and ``jobs.view_queuejob`` (anyone else is sent to
the admin login, as the admin does); each action needs its own permission; a
user without it does not get the button, and the endpoint answers 403.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from jobs.core.access import can_view, denial, session_actor

#: Decorator: staff with the view permission only; others go to the admin login page.
viewers_only: Callable = user_passes_test(can_view, login_url="admin:login")


def require(user: Any, permission: str) -> None:
    refused = denial(session_actor(user, "dashboard"), permission)
    if refused is not None:
        raise PermissionDenied(refused)


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
