"""The audit trail: every state-changing action, from any interface, becomes one AuditEntry.

Callers (API views, dashboard actions, the admin, commands) write it in the
same transaction as the change, so an action that committed is never missing
from the trail. The ``Actor`` says who and through what (jobs/core/access.py).
"""
from __future__ import annotations

import logging

from jobs.core.access import Actor
from jobs.models import AuditEntry

logger = logging.getLogger(__name__)

#: ``detail`` is a filter or a list of ids: kept readable, never a payload-sized row.
DETAIL_MAX = 2000


def audit_record(*, actor: Actor, action: str, count: int, detail: str = "", object_id: object = None,
                 target: str = "") -> AuditEntry:
    """Record ``action`` on ``count`` things: one job (``object_id``), a queue or tokens (``target``), or the
    jobs ``detail`` describes (the filter used)."""
    user = actor.user if actor.user is not None and getattr(actor.user, "is_authenticated", False) else None
    entry = AuditEntry.objects.create(
        user=user,
        actor=actor.name[:150],
        interface=actor.interface,
        via=actor.via,
        credential=actor.credential[:64],
        action=action,
        target=target[:200],
        object_id="" if object_id is None else str(object_id),
        count=count,
        detail=detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 1] + "…",
    )
    fields = {"action": action, "actor": actor.name, "interface": actor.interface, "count": count,
              "target": target, "job_id": "" if object_id is None else str(object_id)}
    logger.info("event=audit action=%s actor=%s via=%s count=%d", action, actor.name, actor.via, count,
                extra={k: v for k, v in fields.items() if v != ""})
    return entry

