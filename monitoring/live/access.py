"""Keeping a WebSocket's access true after the handshake.

A socket is allowed at connect (jobs/core/access.py: staff with the view
permission), but a session can end and a user can lose staff status or the
permission while the socket stays open. So each consumer re-checks: every
``WS_ACCESS_RECHECK_SECONDS`` (the session read again from its store, the
user from the database), and at once when their row or permissions change
(the signals below send ``access.recheck`` to the user's group). A logout
closes the sockets of that session outright (``access.revoke`` to the
session's group): the session is flushed only after the logout signal, so a
re-check then could still find it. A socket that fails is closed with 4403.
"""
from __future__ import annotations

import hashlib
import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from jobs.core.access import can_view

logger = logging.getLogger(__name__)

RECHECK = "access.recheck"
REVOKE = "access.revoke"


def user_group(user_id: object) -> str:
    """The Channels group of every socket a user has open."""
    return f"access.user.{user_id}"


def session_group(session_key: str) -> str:
    """The Channels group of the sockets opened with one session (named by a digest: keys stay out of Redis)."""
    return f"access.session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def scope_session_key(scope: dict[str, Any]) -> str | None:
    session = scope.get("session")
    return getattr(session, "session_key", None) if session is not None else None


def still_allowed(scope: dict[str, Any]) -> bool:
    """Whether the socket's user may still watch: same user in a live session, still staff with the permission.

    The scope's session and user were loaded once at connect; both are read
    again here. A scope without a session (a stack without SessionMiddleware)
    re-reads the user's row.
    """
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False
    session = scope.get("session")
    key = scope_session_key(scope)
    if key:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        # auth.get_user checks the session still exists, names this user and carries its current auth hash
        # (a password change ends other sessions), and reads the user's row again.
        current = auth.get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    elif session is not None:
        return False  # a session never saved: nothing vouches for the user
    else:
        current = get_user_model()._default_manager.filter(pk=user.pk).first()
    return current is not None and current.pk == user.pk and can_view(current)


def _tell(group: str, kind: str) -> None:
    """Send ``kind`` to a group from sync code (signals)."""
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": kind})
    except Exception:  # Redis away: the periodic re-check still closes the sockets
        logger.warning("event=ws_access_notice_failed kind=%s", kind, exc_info=True)


def recheck_user(user_id: object) -> None:
    """Ask every socket of this user to check again now."""
    _tell(user_group(user_id), RECHECK)


@receiver(user_logged_out, dispatch_uid="monitoring.live.access.logged_out")
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        _tell(session_group(key), REVOKE)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="monitoring.live.access.user_saved")
def _user_saved(sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    # Every login saves last_login: that changes nobody's access.
    if not created and set(update_fields or ()) != {"last_login"}:
        recheck_user(instance.pk)


def _permissions_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        recheck_user(instance.pk)
    else:  # a permission or group edited from its side: its users
        for user_id in pk_set or ():
            recheck_user(user_id)


def connect_signals() -> None:
    """Called by MonitoringConfig.ready: user permissions and groups, edited from either side."""
    User = get_user_model()
    for through in (User.user_permissions.through, User.groups.through):
        m2m_changed.connect(_permissions_changed, sender=through, dispatch_uid=f"monitoring.live.access.{through}")
