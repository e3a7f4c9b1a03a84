"""The access policy: who may see and do what, the same for every interface.

The API (jobs/api/auth.py), the dashboard (monitoring/dashboard/access.py),
the WebSockets (monitoring/live/consumers.py) and the commands
(jobs/management/cli.py) describe their caller as an ``Actor`` and ask
``denial`` / ``allows``; nothing else decides access. The audit
(jobs/engine/audit.py) records the same ``Actor``.

The rule, for people: an active **staff** user holding the permission
(jobs/core/permissions.py; superusers hold them all). A bearer token is
narrowed further by its scopes: it can never do more than its user, only
less. A management command is trusted: whoever can run ``manage.py`` holds
the database credentials and could change any row directly, so a check
would stop no one; commands are audited instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.core.permissions import ACTION_PERMISSIONS, ADD, CANCEL, CHANGE, DELETE, PAUSE, PRIORITIZE, RETRY, VIEW
from jobs.core.registry import JobType, all_job_types

SESSION = "session"
TOKEN = "token"
COMMAND = "command"

#: The scope that lets a token scrape GET /metrics (jobs/api/metrics.py) and nothing of the API.
METRICS_SCOPE = "metrics"
#: Token scopes and the permissions each lets through (a token holds a subset of the scopes).
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({VIEW}),
    "enqueue": frozenset({ADD, PRIORITIZE}),
    "act": frozenset({CANCEL, RETRY, PAUSE, CHANGE, DELETE}),
    METRICS_SCOPE: frozenset(),
}
SCOPES: tuple[str, ...] = tuple(SCOPE_PERMISSIONS)


@dataclass(frozen=True)
class Actor:
    """Who acts and through what: what the policy judges and what the audit records."""

    #: The Django user; None for a command, which has none behind it.
    user: Any
    #: ``session``, ``token`` or ``command``.
    via: str
    #: Where: ``api``, ``dashboard``, ``admin``, ``websocket`` or ``cli``.
    interface: str
    #: The token's prefix or the command's name (never a secret: it goes into the audit).
    credential: str = ""
    #: A token's scopes; None when not narrowed (a session, a command).
    scopes: frozenset[str] | None = None
    #: For a command: the operating-system user who ran it.
    os_user: str = ""

    @property
    def name(self) -> str:
        """The person, as the audit shows them."""
        if self.user is not None and getattr(self.user, "is_authenticated", False):
            return str(self.user.get_username())
        return self.os_user or "anonymous"


def session_actor(user: Any, interface: str) -> Actor:
    return Actor(user=user, via=SESSION, interface=interface)


def token_actor(user: Any, *, prefix: str, scopes: list[str] | tuple[str, ...] | frozenset[str]) -> Actor:
    return Actor(user=user, via=TOKEN, interface="api", credential=prefix, scopes=frozenset(scopes))


def command_actor(command: str, os_user: str) -> Actor:
    return Actor(user=None, via=COMMAND, interface="cli", credential=command, os_user=os_user)


def scope_of(permission: str) -> str:
    """The token scope that lets ``permission`` through."""
    return next(scope for scope, perms in SCOPE_PERMISSIONS.items() if permission in perms)


def person_denial(user: Any) -> str | None:
    """Why ``user`` may use nothing at all (anonymous, inactive, not staff), or None."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return "an active user is required"
    if not user.is_staff:
        return "staff status required"
    return None


def denial(actor: Actor, permission: str) -> str | None:
    """Why ``actor`` may not use ``permission`` (a sentence for the 403), or None when it may."""
    if actor.via == COMMAND:
        return None
    refused = person_denial(actor.user)
    if refused is not None:
        return refused
    if actor.scopes is not None and permission not in scope_permissions(actor.scopes):
        return f"token scope {scope_of(permission)!r} required"
    if not actor.user.has_perm(permission):
        return f"permission {permission} required"
    return None


def allows(actor: Actor, permission: str) -> bool:
    return denial(actor, permission) is None


def scope_permissions(scopes: frozenset[str] | list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(SCOPE_PERMISSIONS[scope] for scope in scopes if scope in SCOPE_PERMISSIONS))


def token_permissions(user: Any, scopes: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
    """What a token of ``user`` with ``scopes`` may use (empty: it can do nothing)."""
    actor = token_actor(user, prefix="", scopes=scopes)
    return [perm for perm in (VIEW, *ACTION_PERMISSIONS.values()) if allows(actor, perm)]


def can_view(user: Any) -> bool:
    """Active staff with the view permission may see jobs and queues (dashboard, WebSocket, admin index)."""
    return allows(session_actor(user, "dashboard"), VIEW)


def allowed_actions(user: Any) -> dict[str, bool]:
    """Which actions ``user`` may take in the dashboard, by short name (templates: ``can.retry`` …)."""
    actor = session_actor(user, "dashboard")
    return {name: allows(actor, permission) for name, permission in ACTION_PERMISSIONS.items()}


# --- Enqueueing: decided per job type too (JobType.access, jobs/core/registry.py) ---------------


def may_enqueue(actor: Actor, job_type: JobType) -> bool:
    """A public type needs ``add_queuejob``; a restricted or internal one also ``jobs.enqueue_<type>``
    (which a token's ``enqueue`` scope lets through, as it does ``add_queuejob``). Commands are trusted,
    but ``enqueue_job`` still refuses internal types unless told (jobs/management/commands/enqueue_job.py)."""
    if not allows(actor, ADD):
        return False
    if actor.via == COMMAND or job_type.enqueue_access() == "public":
        return True
    return bool(actor.user.has_perm(job_type.enqueue_permission))


def enqueueable_types(actor: Actor) -> list[JobType]:
    """The types the add form and the schedule admin offer: internal ones only to their permission's holders."""
    return [jt for jt in all_job_types() if may_enqueue(actor, jt)]


def enqueue_refusals(actor: Actor, job_type: JobType, priority: int | None = None) -> list[dict[str, str]]:
    """Field errors (empty: allowed) for ``actor`` enqueueing ``job_type`` at ``priority``."""
    refusals = []
    if not may_enqueue(actor, job_type):
        refusals.append({"field": "type", "type": "permission_denied", "message": (
            f"{job_type.name} is {job_type.enqueue_access()}: enqueueing it needs {job_type.enqueue_permission}")})
    if priority == 0 and not allows(actor, PRIORITIZE):
        refusals.append({"field": "priority", "type": "permission_denied",
                         "message": f"priority 0 needs {PRIORITIZE}; use 1-9"})
    return refusals
