"""Who is calling the API, and whether they may do what they ask.

Two ways in: ``Authorization: Bearer <token>`` for
programs, the Django session for the browser. Each operation gets both,
bound to the permission it needs, so ninja settles authentication (401) and
authorization (403) before it parses the request: a caller without the right
permission learns nothing from validation errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from jobs.api.tokens import api_token_get


@dataclass(frozen=True)
class Caller:
    """``request.auth`` for every API call: the user and how they came in (recorded on new jobs)."""

    user: AbstractBaseUser
    via: str  # the token's name, or "session"


def _authorize(user: AbstractBaseUser, permission: str) -> None:
    # has_perm is True for active superusers, so they need no explicit grants.
    if not user.has_perm(permission):
        raise AuthorizationError(403, f"permission {permission} required")


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; no CSRF check, since a browser never sends the header by itself."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        # A token that was sent but is wrong is an error, not a cue to try the session:
        # the client clearly meant to use it.
        row = api_token_get(token.strip()) if token.strip() else None
        if row is None:
            raise AuthenticationError(401, "invalid or revoked API token")
        _authorize(row.user, self.permission)
        return Caller(user=row.user, via=row.name)


class SessionPermissionAuth(SessionAuth):
    """The browser session, CSRF-checked for unsafe methods (ninja's ``django_auth`` rule).

    Unlike ``django_auth`` it looks for a logged-in user before checking CSRF,
    so an anonymous POST is answered 401 (log in), not 403 (CSRF).
    """

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)  # runs the CSRF check, then authenticate()

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        user = super().authenticate(request, key)
        if user is None:
            return None
        _authorize(user, self.permission)
        return Caller(user=user, via="session")


def api_auth(permission: str) -> list[BearerTokenAuth | SessionPermissionAuth]:
    """Authentication for one operation: a bearer token or a session, holding ``permission``."""
    return [BearerTokenAuth(permission), SessionPermissionAuth(permission)]
