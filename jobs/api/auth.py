"""Who is calling the API, and whether they may do what they ask.

Two ways in: ``Authorization: Bearer <token>`` for
programs, the Django session for the browser. Each operation gets both,
bound to the permission it needs, so ninja settles authentication (401) and
authorization (403) before it parses the request: a caller without the right
permission learns nothing from validation errors. Whether the caller may is
decided by jobs/core/access.py, as for the dashboard and the WebSockets:
active staff holding the permission, and for a token, within its scopes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from jobs.api.tokens import api_token_get
from jobs.core.access import Actor, denial, session_actor, token_actor


@dataclass(frozen=True)
class Caller:
    """``request.auth`` for every API call: who, and how they came in (the policy's and the audit's Actor)."""

    actor: Actor
    via: str  # the token's name, or "session": recorded on new jobs

    @property
    def user(self) -> AbstractBaseUser:
        return self.actor.user


def _authorize(actor: Actor, permission: str) -> None:
    refused = denial(actor, permission)
    if refused is not None:
        raise AuthorizationError(403, refused)


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
            raise AuthenticationError(401, "invalid, expired or revoked API token")
        actor = token_actor(row.user, prefix=row.prefix, scopes=row.scopes)
        _authorize(actor, self.permission)
        return Caller(actor=actor, via=row.name)


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
        actor = session_actor(user, "api")
        _authorize(actor, self.permission)
        return Caller(actor=actor, via="session")


def api_auth(permission: str) -> list[BearerTokenAuth | SessionPermissionAuth]:
    """Authentication for one operation: a bearer token or a session, holding ``permission``."""
    return [BearerTokenAuth(permission), SessionPermissionAuth(permission)]
